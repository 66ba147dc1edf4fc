// The registry as a dataset in the Norwegian application profile of DCAT (DCAT-AP-NO 2.x,
// Digdir), in Turtle, for data.norge.no and helsedata.no. What DCAT-AP-NO requires of a dataset:
// identifier, title, description, theme (from the EU data-theme vocabulary), one publisher (an
// IRI: the data controller in Digdir's organisation catalogue); values from controlled
// vocabularies carry their scheme (skos:inScheme), which is how the SHACL shapes check them
// (test/metadata.test.ts validates the output against Digdir's shapes). The distributions are the
// open metadata files; the data themselves are not open (access rights: non-public).
import { DataFactory, Writer, type Quad, type Quad_Object } from 'n3';
import type { Registry } from '../registry/load.ts';
import type { UnitTree } from '../units/tree.ts';

const { namedNode, literal, quad } = DataFactory;
const NS = {
  rdf: 'http://www.w3.org/1999/02/22-rdf-syntax-ns#',
  dcat: 'http://www.w3.org/ns/dcat#',
  dct: 'http://purl.org/dc/terms/',
  skos: 'http://www.w3.org/2004/02/skos/core#',
  xsd: 'http://www.w3.org/2001/XMLSchema#',
  owl: 'http://www.w3.org/2002/07/owl#',
  foaf: 'http://xmlns.com/foaf/0.1/',
  vcard: 'http://www.w3.org/2006/vcard/ns#',
};
const EU = 'http://publications.europa.eu/resource/authority/';
/** Digdir's organisation catalogue: a publisher is named by its organisation number there. */
export const ORGANISATION_CATALOGUE = 'https://organization-catalog.fellesdatakatalog.digdir.no/organizations/';

export function dcatTurtle(registry: Registry, units: UnitTree, base: string, modified: string): Promise<string> {
  const ds = namedNode(`${base}/registries/${registry.id}`);
  const p = (ns: keyof typeof NS, local: string) => namedNode(NS[ns] + local);
  const quads: Quad[] = [];
  const add = (s: ReturnType<typeof namedNode>, pr: ReturnType<typeof namedNode>, o: Quad_Object) => quads.push(quad(s, pr, o));
  const concept = (scheme: string, code: string) => {
    const c = namedNode(`${EU}${scheme}/${code}`);
    add(c, p('skos', 'inScheme'), namedNode(`${EU}${scheme}`));
    return c;
  };
  const controller = units.all().find((u) => u.nameNb === registry.meta.dataController && u.orgnr);
  const publisher = namedNode(controller?.orgnr ? `${ORGANISATION_CATALOGUE}${controller.orgnr}` : `${base}/organisation`);
  add(ds, p('rdf', 'type'), p('dcat', 'Dataset'));
  add(ds, p('dct', 'identifier'), literal(ds.value));
  add(ds, p('dct', 'title'), literal(registry.meta.title.nb, 'nb'));
  add(ds, p('dct', 'title'), literal(registry.meta.title.en, 'en'));
  add(ds, p('dct', 'description'), literal(registry.meta.description.nb.trim(), 'nb'));
  add(ds, p('dct', 'description'), literal(registry.meta.description.en.trim(), 'en'));
  add(ds, p('dcat', 'theme'), concept('data-theme', 'HEAL'));
  add(ds, p('dct', 'publisher'), publisher);
  if (controller) add(publisher, p('foaf', 'name'), literal(controller.nameNb, 'nb'));
  add(ds, p('dct', 'accessRights'), concept('access-right', 'NON_PUBLIC'));
  add(ds, p('dct', 'language'), concept('language', 'NOB'));
  add(ds, p('dct', 'accrualPeriodicity'), concept('frequency', 'CONT'));
  add(ds, p('dct', 'spatial'), concept('country', 'NOR'));
  add(ds, p('owl', 'versionInfo'), literal(registry.version));
  add(ds, p('dct', 'modified'), literal(modified, p('xsd', 'date')));
  add(ds, p('dcat', 'landingPage'), namedNode(`${base}/metadata/${registry.id}`));
  for (const k of [registry.meta.short, ...registry.forms.map((f) => f.title.nb)]) add(ds, p('dcat', 'keyword'), literal(k, 'nb'));
  if (registry.meta.legalBasis) add(ds, p('dct', 'rights'), literal(registry.meta.legalBasis.nb, 'nb'));
  const distributions: Array<[string, string, string]> = [
    ['codebook.csv', 'Kodebok (CSV, kanonisk format)', 'CSV'],
    ['codebook.xlsx', 'Kodebok (XLSX)', 'XLSX'],
    ['redcap.csv', 'Datadictionary i REDCap-format', 'CSV'],
    ['metadata.json', 'Metadata (JSON): skjema, variabler, kodelister, indikatorer', 'JSON'],
  ];
  for (const [file, title, format] of distributions) {
    const d = namedNode(`${base}/api/public/registries/${registry.id}/metadata/${file}`);
    add(ds, p('dcat', 'distribution'), d);
    add(d, p('rdf', 'type'), p('dcat', 'Distribution'));
    add(d, p('dct', 'title'), literal(title, 'nb'));
    add(d, p('dcat', 'accessURL'), d);
    add(d, p('dcat', 'downloadURL'), d);
    add(d, p('dct', 'license'), concept('licence', 'CC_BY_4_0'));
    add(d, p('dct', 'format'), concept('file-type', format));
  }
  // One block per subject, the dataset first, each statement once (a shared concept is declared once).
  const seen = new Set<string>();
  const unique = quads.filter((q) => {
    const k = `${q.subject.value} ${q.predicate.value} ${q.object.id}`;
    return !seen.has(k) && Boolean(seen.add(k));
  });
  const rank = (q: Quad) => (q.subject.equals(ds) ? '0' : `1${q.subject.value}`);
  unique.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
  const writer = new Writer({ prefixes: { ...NS, eu: EU } });
  writer.addQuads(unique);
  return new Promise((resolve, reject) => writer.end((err, out) => (err ? reject(err) : resolve(out))));
}
