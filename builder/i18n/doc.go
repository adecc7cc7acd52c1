// Package i18n translates the static content of a job: JS string substitution on
// tokens, HTML template tags, phrase extraction for js-translation.json, and
// Magento CSV dictionaries.
//
// # Why JS is translated in two passes
//
// A theme's JS is bundled and minified once, then specialised per locale, because
// locales differ only in a handful of strings and minifying is the expensive part.
// So the calls to translate are marked in the source (MarkJS) and replaced by
// string literals in the minified output (TranslateJS), once per locale.
//
// # What the marking must survive
//
// Minifiers rename local identifiers, and Magento code receives the translate
// function as an AMD parameter (`function ($, $t)`) or an import, so after
// minifying `$t('x')` may read `e("x")` — and `$.mage.__('x')` may read
// `n.mage.__("x")`. They also merge calls: `c ? $t('On') : $t('Off')` becomes
// `e(c?"On":"Off")`, after which no call holds a literal any more. Renaming the
// callee to one free global (which a minifier keeps) survives the renaming but
// not the merging, since calls of one function with one argument are exactly
// what a minifier folds.
//
// MarkJS therefore wraps the callee instead: `$t('x')` becomes
// `__scd_t("12:5",$t)('x')`, where 12:5 is the call's line and column in the
// source. Each marked call calls a different expression (its own position), so
// no two can be folded into one; the real callee is an argument, so the
// minifier renames it consistently (`__scd_t("12:5",e)("x")`); the global
// __scd_t is never renamed; and nothing of the source is changed, only text
// inserted around the callee. Both minifiers scd uses, tdewolff/minify and
// esbuild, are tested against ?:, if/else, ||, &&, comma sequences, hoisted
// functions, renamed parameters, nested calls and template literals
// (minify_test.go), and so is a whole build (builder/i18n_magento_test.go).
//
// TranslateJS replaces a marked call `__scd_t("L:C",f)(<literal>)` by the
// translated literal. Where it cannot — the argument is no longer a single
// literal, or the call is cut — it unwraps the call instead: dropping
// `__scd_t("L:C",` and the matching `)` gives `f(…)` back, a call of the real
// translate function under the minifier's name, so the page still translates
// the phrase at run time from js-translation.json (which holds the phrases of
// every call, marked or not). It reports each such call with the L:C of the
// source, and the builder warns: a build never fails for it. (In a bundle the
// position is that of the call in the module that holds it; the warning names
// the bundle's entry.) Calls MarkJS does not mark — `$t(variable)`,
// `$t('a' + b)`, the outer call of `$t($t('x'))` — are left to the runtime
// function as they are.
//
// # Dictionaries
//
// ParseCSV reads a dictionary as Magento's runtime does (App/Language/Dictionary.php,
// Translate.php): the first two columns of every row, the later row winning, the
// context columns that real packs add (`module,Magento_X`, `theme,…`, `lib,…`,
// empty ones, more) ignored, in the CSV dialect of PHP's fgetcsv, whose backslash
// escapes real packs use. A row of one field is skipped with a warning; broken
// quoting is an error. Scoping `module,Vendor_Module` rows to that module's files
// is an option (ParseOptions.ModuleScope), off by default.
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
