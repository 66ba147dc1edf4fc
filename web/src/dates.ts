// Dates as people read them, one format throughout (the same words innsyn's values are given in):
// "1. mars 2024", "1. mars 2024 kl. 10:00", in Norwegian time.
import type { Lang } from './i18n.tsx';

export function dateWords(iso: string | null | undefined, lang: Lang, withTime = false): string {
  if (!iso) return '–';
  const d = iso.length === 10 ? new Date(`${iso}T12:00:00Z`) : new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const date = new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', {
    timeZone: 'Europe/Oslo',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d);
  if (!withTime) return date;
  const time = new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', {
    timeZone: 'Europe/Oslo',
    hour: '2-digit',
    minute: '2-digit',
  }).format(d);
  return `${date} ${lang === 'nb' ? 'kl.' : 'at'} ${time}`;
}

/** Short form for tables: 01.03.2024 (and 10:00). */
export function dateShort(iso: string | null | undefined, lang: Lang, withTime = false): string {
  if (!iso) return '–';
  const d = iso.length === 10 ? new Date(`${iso}T12:00:00Z`) : new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang === 'nb' ? 'nb-NO' : 'en-GB', {
    timeZone: 'Europe/Oslo',
    day: '2-digit',
    month: '2-digit',
    year: 'numeric',
    ...(withTime ? { hour: '2-digit', minute: '2-digit' } : {}),
  }).format(d);
}
