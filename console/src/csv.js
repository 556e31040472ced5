// CSV (RFC 4180) of exactly what a list shows after its filters, with the service's guard against formula injection
// (Infrastructure/CsvText.cs): a cell that a spreadsheet would run (=, +, -, @, tab, CR, LF or their full-width forms
// first) is prefixed with an apostrophe, unless it is a plain decimal number such as -12 or -0.25.
export function toCsv(columns, rows) {
  const cell = value => {
    let text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (/^[=+\-@\t\r\n\uFF1D\uFF0B\uFF0D\uFF20]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = "'" + text;
    return /[",\r\n]/.test(text) ? '"' + text.replaceAll('"', '""') + '"' : text;
  };
  const lines = [columns.map(c => cell(c.label)).join(',')];
  for (const row of rows) lines.push(columns.map(c => cell(c.csv ? c.csv(row) : c.value(row))).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
