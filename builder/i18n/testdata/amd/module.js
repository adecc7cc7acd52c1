define(['jquery', 'mage/translate'], function ($, $t) {
    'use strict';
    var selected = [1, 2];
    function note() { return hoisted(); }
    var r = {
        ternary: function (id) { return selected.indexOf(id) !== -1 ? $t('On') : $t('Off'); },
        ifElse: function (c) { if (c) { return $t('Yes'); } else { return $t('No'); } },
        or: function (v) { return v || $t('Default'); },
        and: function (v) { return v && $t('Enabled'); },
        sequence: function (f) { return (f(), $t('Done')); },
        sequence2: function () { var a = ($t('First'), $t('Second')); return a; },
        hoisted: function () { return note(); },
        nested: function () { return $t($t('Inner')); },
        template: function () { return $t(`Template`); },
        mage: function () { return $.mage.__('Mage phrase'); },
        jquery: function () { return jQuery.mage.__("jQuery phrase"); },
        variable: function (v) { return $t(v); },
        concat: function (v) { return $t('Hello ' + v); },
        same: function (c) { return c ? $t('Same') : $t('Same'); },
        missing: function () { return $t('Untranslated'); },
        escaped: function () { return $t('It\'s "quoted"'); }
    };
    function hoisted() { return $t('Hoisted'); }
    return r;
});
