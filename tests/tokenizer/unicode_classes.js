// Print the code-point ranges of node's /\p{L}/u, /\p{N}/u and /\s/u, one class a line:
//   CLASS COUNT first-last first-last ...   (hex, inclusive), then node's Unicode version.
//
//   node tests/tokenizer/unicode_classes.js
//
// Encoder.js's pre-tokeniser uses these classes. core/tokenizer_gpt2.c reproduces them with
// PCRE2: its EXTRA_L and EXTRA_N are the L and N ranges printed here (node v20.20.2, Unicode
// 17.0) minus those PCRE2 10.42 matches with \p{L} / \p{N} (Unicode 14.0), and its JS_SPACE is
// the S line. Rerun and recompute them when moving to a node or PCRE2 with other Unicode tables.
'use strict';
const classes = { L: /^\p{L}$/u, N: /^\p{N}$/u, S: /^\s$/u };
for (const [name, re] of Object.entries(classes)) {
  const ranges = [];
  let start = -1;
  for (let cp = 0; cp <= 0x110000; cp++) {
    const inside = cp < 0x110000 && !(cp >= 0xd800 && cp <= 0xdfff) && re.test(String.fromCodePoint(cp));
    if (inside && start < 0) start = cp;
    if (!inside && start >= 0) {
      ranges.push(start.toString(16) + '-' + (cp - 1).toString(16));
      start = -1;
    }
  }
  console.log(name, ranges.length, ranges.join(' '));
}
console.log('unicode', process.versions.unicode);
