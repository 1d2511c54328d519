// `sync-cli users list|assign|passwd|unassign`: mailbox assignments for scripts (same validation as
// the configure UI: src/assignments/). Registration only; the bodies load when they run.
import { Option, type Command } from 'commander';
import type { ActionRunner } from '../cli.js';
import { credentialStoreKinds } from '../secrets/store.js';
import type { AssignOptions } from './users-impl.js';

const authSchemes = ['basic', 'bearer', 'digest'] as const;
const impl = () => import('./users-impl.js');

export function registerUsersCommands(program: Command, run: ActionRunner): void {
  const users = program.command('users').description('CRM users and their mailbox assignments');
  users
    .command('list')
    .description('CRM users with their mailbox assignment and sync settings')
    .addHelpText('after', '\nExample:\n  sync-cli users list --json')
    .action((_o, cmd: Command) => run(cmd, async (ctx) => (await impl()).listUsers(ctx)));

  users
    .command('assign')
    .description('assign a CardDAV/CalDAV mailbox to a CRM user (login or id); tests the connection first')
    .argument('<user>', 'CRM user login or id')
    .requiredOption('--url <url>', 'CardDAV/CalDAV server URL (no credentials in it)')
    .requiredOption('--username <name>', 'login at the mailbox server')
    .option('--password-stdin', 'read the password from stdin (once)')
    .option('--password-env <var>', 'read the password from this environment variable (once)')
    .option('--address-tags <tags>', "comma-separated address tags (default: the CRM user's); the user tag is always included")
    .option('--activity-tags <tags>', "comma-separated activity tags (default: the CRM user's)")
    .option('--past-days <n>', 'appointments ended more than N days ago are not sent (default: config sync.pastDays)')
    .option('--sync-private', 'import device items marked private as private CRM records')
    .option('--import-appointment-type <type>', 'activity type for events created on the device')
    .option('--import-task-type <type>', 'activity type for tasks created on the device')
    .addOption(new Option('--auth <scheme>', 'HTTP authentication').choices([...authSchemes]))
    .addOption(new Option('--credential-store <store>', 'where the password is kept (default: cluster when the state is on PostgreSQL, else keychain if available, else a 0600 file)').choices([...credentialStoreKinds]))
    .option(
      '--trust-origin <origin>',
      'another server (https://host[:port]) the mailbox server names during discovery, e.g. iCloud\'s pNN-contacts host, that may get the password; repeatable',
      (value: string, prev: string[] = []) => [...prev, value],
    )
    .option('--no-verify', 'save without testing the connection')
    .addHelpText('after', '\nExamples:\n  printf %s "$PW" | sync-cli users assign anna --url https://dav.example.com/ --username anna --password-stdin\n  sync-cli users assign anna --url https://dav.example.com/ --username anna --password-env ANNA_PW --address-tags VIP,Kunde')
    .action((user: string, opts: AssignOptions, cmd: Command) => run(cmd, async (ctx) => (await impl()).assign(ctx, user, opts)));

  users
    .command('passwd')
    .description("replace only the stored password of an assigned mailbox (tested against the server first)")
    .argument('<user>', 'CRM user login or id')
    .option('--password-stdin', 'read the new password from stdin (once)')
    .option('--password-env <var>', 'read the new password from this environment variable (once)')
    .option('--no-verify', 'store it without testing the connection')
    .addHelpText('after', '\nExample:\n  printf %s "$NEW_PASSWORD" | sync-cli users passwd mmueller --password-stdin')
    .action((user: string, opts: { passwordStdin?: boolean; passwordEnv?: string; verify: boolean }, cmd: Command) => run(cmd, async (ctx) => (await impl()).passwd(ctx, user, opts)));

  users
    .command('unassign')
    .description("remove a user's mailbox assignment and its stored password")
    .argument('<user>', 'CRM user login or id')
    .addHelpText('after', '\nExample:\n  sync-cli users unassign anna')
    .action((user: string, _o, cmd: Command) => run(cmd, async (ctx) => (await impl()).unassign(ctx, user)));
}
