let mod;
globalThis.define = (deps, f) => {
  const $t = (s) => 'rt:' + s;
  const $ = { mage: { __: (s) => 'rt$:' + s } };
  globalThis.jQuery = $;
  mod = f(...deps.map((d) => ({ jquery: $, 'mage/translate': $t })[d]));
};
require(process.argv[1]);
process.stdout.write(JSON.stringify({
  ternaryOn: mod.ternary(1), ternaryOff: mod.ternary(3), yes: mod.ifElse(true), no: mod.ifElse(false),
  orEmpty: mod.or(''), orFull: mod.or('x'), andTrue: mod.and(true), andFalse: String(mod.and(false)),
  sequence: mod.sequence(function () {}), sequence2: mod.sequence2(), hoisted: mod.hoisted(), nested: mod.nested(),
  template: mod.template(), mage: mod.mage(), jquery: mod.jquery(), variable: mod.variable('Var'),
  concat: mod.concat('you'), sameA: mod.same(true), sameB: mod.same(false), missing: mod.missing(),
  escaped: mod.escaped(),
}));
