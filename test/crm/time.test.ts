// Change stamps from the three databases become one ISO form whose string order is time order:
// feed cursors are compared as strings (R6), and PostgreSQL prints 340 ms as `.34`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dbTimestampToIso } from '../../src/providers/crm/time.js';

describe('database change stamps → ISO 8601', () => {
  it('gives every stamp six fraction digits, in UTC', () => {
    expect(dbTimestampToIso('2026-11-23 05:54:02.34+00')).toBe('2026-11-23T05:54:02.340000Z');
    expect(dbTimestampToIso('2026-11-23 05:54:02+00')).toBe('2026-11-23T05:54:02.000000Z');
    expect(dbTimestampToIso('2026-11-23 05:54:02.123456')).toBe('2026-11-23T05:54:02.123456Z');
    expect(dbTimestampToIso('2026-11-23T05:54:02.123Z')).toBe('2026-11-23T05:54:02.123000Z');
    expect(dbTimestampToIso('2026-11-23 06:54:02.5+01')).toBe('2026-11-23T06:54:02.500000+01:00');
    expect(dbTimestampToIso(new Date('2026-11-23T05:54:02.007Z'))).toBe('2026-11-23T05:54:02.007000Z');
  });

  it('R6: the string order of normalized PostgreSQL stamps is their time order (trailing zeros dropped by the server)', () => {
    // PostgreSQL's text output of a timestamptz: no fraction for whole seconds, trailing zeros cut.
    const pgText = (micros: number) => {
      const d = new Date(Date.UTC(2026, 10, 23, 5, 54, 0) + Math.floor(micros / 1000));
      const frac = String(micros % 1_000_000).padStart(6, '0').replace(/0+$/, '');
      return `${d.toISOString().slice(0, 19).replace('T', ' ')}${frac ? `.${frac}` : ''}+00`;
    };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3_000_000 }), fc.integer({ min: 0, max: 3_000_000 }), (a, b) => {
        const [x, y] = [dbTimestampToIso(pgText(a)), dbTimestampToIso(pgText(b))];
        expect(Math.sign(x < y ? -1 : x > y ? 1 : 0)).toBe(Math.sign(a - b));
      }),
      { numRuns: 500 },
    );
  });
});
