import { expect } from 'vitest';
import { MappingError } from '../../src/mappers/index.js';
import type { Activity, Address, CrmUser } from '../../src/providers/crm/model.js';
import { type FfdataContext, type MapperOptions, loadPhoneSlots } from '../../src/mappers/index.js';

export const slots = loadPhoneSlots();

export function options(over: Partial<MapperOptions> = {}): MapperOptions {
  return { phoneSlots: slots, subjectFormat: '{type}: {subject}', vcardVersion: '3.0', prodId: '-//sync-cli//test//EN', ...over };
}

export function address(over: Partial<Address> = {}): Address {
  return {
    id: 'a1',
    company: 'Muster Immobilien GmbH',
    salutation: 'Frau',
    title: 'Dr.',
    firstName: 'Erika',
    lastName: 'Mustermann',
    street: 'Hauptstraße 5',
    postalCode: '80331',
    city: 'München',
    country: 'Deutschland',
    fax: '+49 89 1234-99',
    email: 'e.mustermann@example.de',
    note: 'Kundin seit 2019',
    phones: [
      { number: '+49 89 1234-0', remark: 'Zentrale' },
      { number: '+49 170 5550101', remark: 'nur vormittags' },
    ],
    private: false,
    owner: 'u1',
    tags: ['MM'],
    version: '1',
    updatedAt: '2026-11-20T09:15:00+01:00',
    ...over,
  };
}

export const user: CrmUser = {
  id: 'u1',
  login: 'mmueller',
  name: 'Max Müller',
  userTag: 'MM',
  addressTags: ['MM'],
  activityTags: ['MM'],
  importAppointmentType: 'Termin',
  importTaskType: 'Aufgabe',
};

export function ctx(): FfdataContext {
  return { users: new Map([[user.id, user]]), addresses: new Map([['a1', address()]]) };
}

export function appointment(over: Partial<Activity> = {}): Activity {
  return {
    id: 't1',
    kind: 'appointment',
    type: 'Termin extern',
    subject: 'Besichtigung Hauptstraße 5',
    start: '2026-11-25T10:00:00+01:00',
    end: '2026-11-25T11:00:00+01:00',
    allDay: false,
    timeZone: 'Europe/Berlin',
    due: null,
    alarmMinutes: 15,
    note: 'Schlüssel beim Hausmeister',
    done: false,
    private: false,
    owner: 'u1',
    participants: ['u1'],
    addresses: ['a1'],
    tags: ['MM'],
    version: '1',
    updatedAt: '2026-11-20T09:20:00+01:00',
    ...over,
  };
}

export function task(over: Partial<Activity> = {}): Activity {
  return appointment({
    id: 't2',
    kind: 'task',
    type: 'Aufgabe',
    subject: 'Exposé schicken',
    start: null,
    end: null,
    due: '2026-11-27T17:00:00+01:00',
    alarmMinutes: null,
    note: '',
    ...over,
  });
}

/** Unfolded content lines of an item, for assertions. */
export function unfoldedLines(text: string): string[] {
  return text.replace(/\r\n[ \t]/g, '').split(/\r\n/).filter(Boolean);
}

/** Runs fn and returns the MappingError it must throw (the test fails otherwise). */
export function mappingError(fn: () => unknown): MappingError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MappingError);
    return e as MappingError;
  }
  throw new Error('expected a MappingError');
}
