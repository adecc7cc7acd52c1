// Package i18n translates the static content of a job: JS string substitution on
// tokens, HTML template tags, phrase extraction for js-translation.json, and
// Magento CSV dictionaries.
//
// # Why JS is translated in two passes
//
// A theme's JS is bundled and minified once, then specialised per locale, because
// locales differ only in a handful of strings and minifying is the expensive part.
// Minifiers rename local identifiers, and Magento code receives the translate
// function as an AMD parameter or an import named $t, so after minifying a call
// $t('x') may read e($t renamed to e)('x'). MarkJS therefore rewrites the calls in
// the source into calls of the free global Marker (__scd_t), which a minifier must
// keep as is, and TranslateJS replaces those calls by string literals on the
// minified output, once per locale.
//
// # Why tokens, not regular expressions
//
// Every JS operation here runs on the tokens of github.com/tdewolff/parse/v2/js,
// so a `$t('x')` inside a string, a template literal, a comment or a regular
// expression literal is never touched. That lexer cannot tell a regular
// expression from a division on its own; the scanner in this package decides from
// the previous significant token (see jsScanner), as JS parsers without a full
// grammar traditionally do.
package i18n
