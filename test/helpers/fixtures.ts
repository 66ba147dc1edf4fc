// Hand-built fractures for tests, with valid synthetic identity numbers.
import { generateNin } from '../../src/identity/nin.ts';
import type { FractureSpec } from '../../registries/fracture/bundles.ts';
import { SUS_ORTHO } from './platform.ts';

let seed = 1;
const random = () => {
  seed = (seed * 16807) % 2147483647;
  return seed / 2147483647;
};

export function nin(birthDate = '1970-05-17', sex: 'male' | 'female' = 'female'): string {
  return generateNin({ birthDate, sex, kind: 'synthetic-fnr', random });
}

let counter = 0;
export function fracture(over: Partial<FractureSpec> = {}): FractureSpec {
  counter += 1;
  return {
    id: `t${Date.now().toString(36)}${counter}`,
    nin: nin(),
    unitResh: SUS_ORTHO,
    setting: 'EMER',
    injuryDateTime: '2024-03-01T10:00:00+01:00',
    firstContact: '2024-03-01T12:30:00+01:00',
    aoCode: '2R3A2',
    side: 'left',
    open: false,
    energy: 'low',
    intent: 'conservative',
    secondaryPrevention: true,
    osteoporosisOffered: true,
    ...over,
  };
}
