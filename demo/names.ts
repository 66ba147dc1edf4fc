// Synthetic names for the demo's patients: common Norwegian given and family names combined by a
// hash of the patient's identity number, so the same person always has the same name and the demo's
// random sequence (and with it every planted rate) is untouched. No real person is meant.
import { createHash } from 'node:crypto';

const FEMALE = ['Anne', 'Inger', 'Kari', 'Marit', 'Ingrid', 'Liv', 'Eva', 'Berit', 'Astrid', 'Bjørg', 'Hilde', 'Anna', 'Solveig', 'Marianne', 'Randi', 'Ida', 'Nina', 'Maria', 'Elisabeth', 'Kristin', 'Nora', 'Emma', 'Sara', 'Ingeborg', 'Silje'];
const MALE = ['Jan', 'Per', 'Bjørn', 'Ole', 'Lars', 'Kjell', 'Knut', 'Arne', 'Svein', 'Thomas', 'Hans', 'Geir', 'Tor', 'Morten', 'Terje', 'Odd', 'Erik', 'Martin', 'Andreas', 'John', 'Jonas', 'Magnus', 'Henrik', 'Sindre', 'Even'];
const FAMILY = ['Hansen', 'Johansen', 'Olsen', 'Larsen', 'Andersen', 'Pedersen', 'Nilsen', 'Kristiansen', 'Jensen', 'Karlsen', 'Johnsen', 'Pettersen', 'Eriksen', 'Berg', 'Haugen', 'Hagen', 'Johannessen', 'Andreassen', 'Jacobsen', 'Dahl', 'Jørgensen', 'Halvorsen', 'Henriksen', 'Lund', 'Sørensen', 'Jakobsen', 'Moen', 'Gundersen', 'Iversen', 'Strand', 'Solberg', 'Svendsen', 'Eide', 'Knutsen', 'Martinsen', 'Paulsen', 'Bakken', 'Kristoffersen', 'Mathisen', 'Lie', 'Rasmussen', 'Amundsen', 'Lunde', 'Kristensen', 'Bakke', 'Berge', 'Moe', 'Nygård', 'Fredriksen', 'Solheim'];

/** A FHIR HumanName for a demo patient. */
export function demoName(nin: string, sex: 'male' | 'female' | undefined): { use: 'official'; given: string[]; family: string } {
  const h = createHash('sha256').update(nin).digest();
  // Without a stated sex, the identity number's ninth digit tells it (odd: male).
  const male = sex ? sex === 'male' : Number(nin[8]) % 2 === 1;
  const given = (male ? MALE : FEMALE)[h.readUInt16BE(0) % 25];
  return { use: 'official', given: [given], family: FAMILY[h.readUInt16BE(2) % FAMILY.length] };
}
