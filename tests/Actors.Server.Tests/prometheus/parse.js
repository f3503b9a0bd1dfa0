// Reads Prometheus text exposition from stdin and prints the parsed families as JSON (one object).
const parse = require('parse-prometheus-text-format');
let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { text += d; });
process.stdin.on('end', () => { process.stdout.write(JSON.stringify(parse(text))); });
