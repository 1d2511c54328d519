// A small CRM for sync scenarios, dates relative to now so the rules about the past (R3) and
// ended appointments (R18) hold whenever the suite runs.
const DAY = 86_400_000;

function at(daysFromNow: number, hour: number, minute = 0): string {
  const d = new Date(Date.now() + daysFromNow * DAY);
  d.setUTCHours(hour, minute, 0, 0);
  return d.toISOString().replace('.000Z', '+00:00');
}

function day(daysFromNow: number): string {
  return new Date(Date.now() + daysFromNow * DAY).toISOString().slice(0, 10);
}

export function smallCrm() {
  const base = { salutation: '', title: '', street: '', postalCode: '', city: '', country: 'Deutschland', fax: '', email: '', note: '', phones: [] as { number: string; remark: string }[], private: false, deleted: false };
  return {
    users: [
      { id: 'u1', login: 'mmueller', name: 'Max Müller', email: 'm.mueller@example.de', userTag: 'MM', addressTags: ['MM'], activityTags: ['MM'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' },
      { id: 'u2', login: 'sschmidt', name: 'Sabine Schmidt', email: 's.schmidt@example.de', userTag: 'SS', addressTags: ['SS', 'VIP'], activityTags: ['SS'], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' },
    ],
    addresses: [
      { ...base, id: 'a1', company: 'Muster Immobilien GmbH', salutation: 'Frau', title: 'Dr.', firstName: 'Erika', lastName: 'Mustermann', street: 'Hauptstraße 5', postalCode: '80331', city: 'München', fax: '+49 89 1234-99', email: 'e.mustermann@example.de', note: 'Kundin seit 2019',
        phones: [ { number: '+49 89 1234-0', remark: 'Zentrale' }, { number: '+49 170 5550101', remark: 'nur vormittags' } ], owner: 'u1', tags: ['MM', 'VIP'] },
      { ...base, id: 'a2', company: 'Bäckerei Größl', firstName: 'Jürgen', lastName: 'Größl', street: 'Marktplatz 1', postalCode: '93047', city: 'Regensburg',
        phones: Array.from({ length: 10 }, (_, i) => ({ number: `+49 941 55${String(i).padStart(2, '0')}`, remark: `Nr ${i + 1}` })), owner: 'u1', tags: ['MM'] },
      { ...base, id: 'a3', company: '', firstName: 'Özlem', lastName: 'Şahin', owner: 'u1', private: true, tags: ['MM', 'SS'] },
      { ...base, id: 'a4', company: 'Schmidt & Söhne KG', firstName: 'Karl', lastName: 'Schmidt', owner: 'u2', tags: ['SS'] },
      { ...base, id: 'a5', company: 'Notariat Weiß', firstName: 'Luise', lastName: 'Weiß', owner: 'u2', tags: ['Notar'], phones: [{ number: '+49 30 777 000', remark: 'Kanzlei' }] },
    ],
    activities: [
      { id: 't1', kind: 'appointment', type: 'Termin extern', subject: 'Besichtigung Hauptstraße 5', start: at(2, 9), end: at(2, 10), allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 15,
        note: 'Schlüssel beim Hausmeister', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: ['a1', 'a5'], tags: ['MM'], deleted: false },
      { id: 't2', kind: 'appointment', type: 'Termin intern', subject: 'Teamrunde', start: day(5), end: day(6), allDay: true, timeZone: null, alarmMinutes: null,
        note: '', done: false, private: false, owner: 'u1', participants: ['u1', 'u2'], addresses: [], tags: ['MM', 'SS'], deleted: false },
      { id: 't3', kind: 'appointment', type: 'Termin extern', subject: 'Übergabe alt', start: at(-60, 9), end: at(-60, 10), allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 15,
        note: '', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: [], tags: ['MM'], deleted: false },
      { id: 't4', kind: 'appointment', type: 'Termin extern', subject: 'Notartermin gestern', start: at(-1, 9), end: at(-1, 10), allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 30,
        note: '', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: [], tags: ['MM'], deleted: false },
      { id: 't5', kind: 'appointment', type: 'Privat', subject: 'Zahnarzt', start: at(3, 14), end: at(3, 15), allDay: false, timeZone: 'Europe/Berlin', alarmMinutes: 60,
        note: '', done: false, private: true, owner: 'u1', participants: ['u1'], addresses: [], tags: ['MM', 'SS'], deleted: false },
      { id: 'k1', kind: 'task', type: 'Aufgabe', subject: 'Exposé schicken', due: at(4, 16), alarmMinutes: null, note: '', done: false, private: false, owner: 'u1', participants: ['u1'], addresses: ['a1'], tags: ['MM'], deleted: false },
    ],
  };
}
