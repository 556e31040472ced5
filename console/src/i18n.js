// Every string the console shows comes from a catalogue keyed by message id; English is the first. Another language is
// a file like strings.en.js registered here; dates and numbers use the browser's locale through Intl.
import en from './strings.en.js';

const catalogues = { en };
const asked = (navigator.language || 'en').split('-')[0];
export const language = catalogues[asked] ? asked : 'en';
const strings = catalogues[language];

export function t(id, values) {
  let text = strings[id] ?? en[id] ?? id;
  if (values) for (const [k, v] of Object.entries(values)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

const dateTime = new Intl.DateTimeFormat(navigator.language || 'en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
const dateOnly = new Intl.DateTimeFormat(navigator.language || 'en', { dateStyle: 'medium', timeZone: 'UTC' });
const number = new Intl.NumberFormat(navigator.language || 'en');

export const format = {
  when: v => (v ? dateTime.format(new Date(v)) + ' UTC' : ''),
  day: v => (v ? dateOnly.format(new Date(v)) : ''),
  number: v => (v === null || v === undefined || v === '' ? '' : number.format(v)),
};
