// A secret (a link's MAC, a CSRF token) with its last two characters changed, for tests that a
// forged one is refused. Changed to characters it cannot already end with: a fixed suffix such as
// "xx" leaves a random secret unchanged once in 4,096 runs, and the test then fails by chance.
export const tamper = (secret: string): string => secret.slice(0, -2) + (secret.endsWith('xx') ? 'yy' : 'xx');
