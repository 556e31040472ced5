// Validates UBL invoices with an independent implementation of EN 16931's rules (@fin.cx/einvoice): prints one JSON
// object per file {file, valid, errors: [{code, message}]} and exits 1 when any file is invalid. Used by the billing
// tests (Billing/BillingExportTests); no rule of ours is involved.
import { EInvoice } from '@fin.cx/einvoice';
import { readFileSync } from 'node:fs';

let failed = false;
const results = [];
for (const file of process.argv.slice(2)) {
  try {
    const invoice = await EInvoice.fromXml(readFileSync(file, 'utf8'));
    const result = await invoice.validate();
    const errors = (result.errors || []).map(e => ({ code: e.code, message: e.message }));
    if (!result.valid) failed = true;
    results.push({ file, valid: !!result.valid, format: invoice.getFormat?.() ?? null, errors });
  } catch (e) {
    failed = true;
    results.push({ file, valid: false, errors: [{ code: 'UNREADABLE', message: String(e) }] });
  }
}
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
