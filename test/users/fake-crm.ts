// An in-memory CrmDirectory (the three lookups the admin side uses) for unit tests: a test
// double of our own interface, not of a database.
import type { CrmDirectory } from '../../src/assignments/index.js';
import type { CrmUser } from '../../src/providers/crm/model.js';

export const demoUsers: CrmUser[] = [
  { id: 'u1', login: 'anna', name: 'Anna Schmidt', userTag: 'MA-Anna', addressTags: ['Kunde'], activityTags: [], importAppointmentType: 'Termin', importTaskType: 'Aufgabe' },
  { id: 'u2', login: 'bernd', name: 'Bernd Müller', userTag: 'MA-Bernd', addressTags: [], activityTags: ['Vertrieb'], importAppointmentType: 'Termin extern', importTaskType: 'Aufgabe' },
  { id: 'u3', login: 'clara', name: 'Clara Weber', userTag: 'MA-Clara', addressTags: [], activityTags: [], importAppointmentType: 'Termin', importTaskType: 'Rückruf' },
];
export const demoTags = ['MA-Anna', 'MA-Bernd', 'MA-Clara', 'Kunde', 'VIP', 'Vertrieb', 'Lieferant'];

export function memoryCrm(users: CrmUser[] = demoUsers, tags: string[] = demoTags): CrmDirectory {
  return {
    listUsers: async () => users,
    findUser: async (idOrLogin) => users.find((u) => u.id === idOrLogin || u.login === idOrLogin) ?? null,
    listTags: async () => tags,
  };
}
