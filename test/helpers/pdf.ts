// Reads a PDF's document information (Title, Subject, Author …): literal strings or UTF-16BE hex,
// as pdfkit writes them. Enough to check what a generated PDF says it is, without a PDF library.
export function pdfInfo(pdf: Buffer): Record<string, string> {
  const text = pdf.toString('latin1');
  const out: Record<string, string> = {};
  for (const key of ['Title', 'Subject', 'Author', 'Keywords', 'Creator', 'Producer']) {
    const value = String.raw`(\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>)`;
    let m = new RegExp(String.raw`/${key}\s*` + value).exec(text);
    // pdfkit writes the values as indirect objects: /Title 20 0 R … 20 0 obj (…) endobj
    const ref = new RegExp(String.raw`/${key}\s+(\d+) 0 R`).exec(text);
    if (!m && ref) m = new RegExp(String.raw`(?:^|\n)${ref[1]} 0 obj\s*` + value).exec(text);
    if (!m) continue;
    const v = m[1];
    const raw = v.startsWith('(')
      ? Buffer.from(
          v
            .slice(1, -1)
            .replace(/\\([0-7]{1,3}|.)/gs, (_m, e: string) =>
              /^[0-7]/.test(e)
                ? String.fromCharCode(parseInt(e, 8))
                : (({ n: '\n', r: '\r', t: '\t', b: '\b', f: '\f' } as Record<string, string>)[e] ?? e),
            ),
          'latin1',
        )
      : Buffer.from(v.slice(1, -1).replace(/\s/g, ''), 'hex');
    out[key] = raw[0] === 0xfe && raw[1] === 0xff ? Buffer.from(raw.subarray(2)).swap16().toString('utf16le') : raw.toString('latin1');
  }
  return out;
}
