import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LedgerEntry, User, Wallet } from '../../db/tables/wallets.ts';
import { createUser, getUser, listUsers, updateUser } from '../../domain/users/users.ts';
import { listEntries } from '../../domain/wallets/ledger.ts';
import { getOrCreateWallet, updateAutoTopUp } from '../../domain/wallets/wallets.ts';
import { MAX_TOP_UP_CENTS } from '../../domain/wallets/top-ups.ts';
import type { AppContext } from '../../context.ts';
import { cents, commonErrors, conflictErrors, idParams, isoDate, listQuery, objectId, pageOf } from '../schemas.ts';

const stringMap = z
  .record(z.string().max(64), z.string().max(500))
  .refine((m) => Object.keys(m).length <= 20, 'at most 20 keys');

const fields = {
  firstname: z.string().min(1).max(100),
  lastname: z.string().min(1).max(100),
  email: z.email().max(254),
  active: z.boolean(),
  address: stringMap,
  phone: stringMap,
  favorite_chargestations: z.array(objectId).max(100),
  role: z.enum(['user', 'admin']),
  payment_methods: z.array(z.string().max(100)).max(20),
  organization: objectId,
};

export const walletSchema = z
  .object({
    _id: z.string(),
    test_mode: z.boolean(),
    balance: z.number().int().describe('cents; below zero when energy delivered after the zero crossing is owed'),
    currency: z.string(),
    auto_top_up: z.object({
      active: z.boolean(),
      payment_method: z.string().nullable(),
      amount: z.number().int(),
      threshold: z
        .number()
        .int()
        .optional()
        .describe("cents; present only when set: below it a debit asks for a top-up (default: the organization's minimum)"),
    }),
    createdAt: isoDate,
    updatedAt: isoDate,
  })
  .meta({ id: 'Wallet' });

const userFields = {
  _id: z.string(),
  firstname: z.string().nullable(),
  lastname: z.string().nullable(),
  active: z.boolean(),
  address: z.record(z.string(), z.string()),
  phone: z.record(z.string(), z.string()),
  email: z.string().nullable(),
  favorite_chargestations: z.array(z.string()),
};
const userTail = {
  role: z.string(),
  payment_methods: z.array(z.string()),
  organization: z.string(),
  createdAt: isoDate,
  updatedAt: isoDate,
};
export const userSchema = z.object({ ...userFields, ...userTail }).meta({ id: 'User' });
/** The seed's user-with-wallet: the wallet sits between favorite_chargestations and role. */
export const userWithWalletSchema = z
  .object({ ...userFields, wallet: walletSchema, ...userTail })
  .meta({ id: 'UserWithWallet' });

export function walletJson(w: Wallet): z.infer<typeof walletSchema> {
  return {
    _id: w.id,
    test_mode: w.test_mode,
    balance: w.balance,
    currency: w.currency,
    auto_top_up: {
      active: w.auto_top_up_active,
      payment_method: w.auto_top_up_payment_method,
      amount: w.auto_top_up_amount,
      ...(w.auto_top_up_threshold !== null ? { threshold: w.auto_top_up_threshold } : {}),
    },
    createdAt: w.created_at.toISOString(),
    updatedAt: w.updated_at.toISOString(),
  };
}

export function userJson(u: User) {
  return {
    _id: u.id,
    firstname: u.firstname,
    lastname: u.lastname,
    active: u.active,
    address: u.address,
    phone: u.phone,
    email: u.email,
    favorite_chargestations: u.favorite_chargestations,
    role: u.role,
    payment_methods: u.payment_methods,
    organization: u.organization_id,
    createdAt: u.created_at.toISOString(),
    updatedAt: u.updated_at.toISOString(),
  };
}

function userWithWalletJson(u: User, w: Wallet) {
  const { role, payment_methods, organization, createdAt, updatedAt, ...head } = userJson(u);
  return { ...head, wallet: walletJson(w), role, payment_methods, organization, createdAt, updatedAt };
}

export const ledgerEntrySchema = z
  .object({
    _id: z.string(),
    type: z.enum(['credit', 'debit']),
    amount: z.number().int(),
    balance_after: z.number().int(),
    session: z.string().nullable(),
    top_up: z.string().nullable(),
    note: z.string().optional().describe("why, present only when it is not plain billing or a top-up (an operator's settlement)"),
    createdAt: isoDate,
  })
  .meta({ id: 'LedgerEntry' });

export function ledgerJson(e: LedgerEntry): z.infer<typeof ledgerEntrySchema> {
  return {
    _id: e.id,
    type: e.type,
    amount: e.amount,
    balance_after: e.balance_after,
    session: e.session_id,
    top_up: e.top_up_id,
    ...(e.note ? { note: e.note } : {}),
    createdAt: e.created_at.toISOString(),
  };
}

export function userRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['users'];
    app.post('/users', {
      config: { tenancy: { body: { organization: 'organization' } } },
      schema: {
        tags,
        summary: 'Create a user',
        body: z.strictObject({
          firstname: fields.firstname,
          lastname: fields.lastname,
          email: fields.email,
          active: fields.active.optional(),
          address: fields.address.optional(),
          phone: fields.phone.optional(),
          favorite_chargestations: fields.favorite_chargestations.optional(),
          role: fields.role.optional(),
          payment_methods: fields.payment_methods.optional(),
          organization: fields.organization.optional().describe('default: the Default organization'),
        }),
        response: { 201: userSchema, ...conflictErrors },
      },
      handler: async (req, reply) => {
        const organization = req.tenant.organizationFor(req.body.organization);
        return reply.status(201).send(userJson(await createUser(deps.db, deps.clock, { ...req.body, organization })));
      },
    });
    app.get('/users', {
      config: { tenancy: 'filtered' },
      schema: {
        tags,
        summary: 'List users',
        querystring: listQuery.extend({ organization: objectId.optional(), email: z.string().max(254).optional() }),
        response: { 200: pageOf(userSchema), ...commonErrors },
      },
      handler: async (req) => {
        const page = await listUsers(deps.db, {
          ...req.query,
          organization: req.tenant.filter(req.query.organization),
        });
        return { data: page.data.map(userJson), next_cursor: page.next_cursor };
      },
    });
    app.get('/users/:id', {
      config: { tenancy: { params: { id: 'user' } } },
      schema: { tags, summary: 'Get a user', params: idParams, response: { 200: userSchema, ...commonErrors } },
      handler: async (req) => {
        return userJson(await getUser(deps.db, req.params.id));
      },
    });
    app.patch('/users/:id', {
      config: { tenancy: { params: { id: 'user' }, body: { organization: 'organization' } } },
      schema: {
        tags,
        summary: 'Update a user',
        params: idParams,
        body: z.strictObject({
          firstname: fields.firstname.optional(),
          lastname: fields.lastname.optional(),
          email: fields.email.optional(),
          active: fields.active.optional(),
          address: fields.address.optional(),
          phone: fields.phone.optional(),
          favorite_chargestations: fields.favorite_chargestations.optional(),
          role: fields.role.optional(),
          payment_methods: fields.payment_methods.optional(),
          organization: fields.organization.optional(),
        }),
        response: { 200: userSchema, ...conflictErrors },
      },
      handler: async (req) => {
        return userJson(await updateUser(deps.db, deps.clock, req.params.id, req.body));
      },
    });
    app.get('/users/:id/wallet', {
      config: { tenancy: { params: { id: 'user' } } },
      schema: {
        tags: ['wallets'],
        summary: "Get (creating on first call) the user's wallet",
        description: 'Returns the user object with its wallet. The first call creates the wallet in the organization currency.',
        params: idParams,
        response: { 200: userWithWalletSchema, ...commonErrors },
      },
      handler: async (req) => {
        const { user, wallet } = await getOrCreateWallet(deps.db, deps.clock, req.params.id);
        return userWithWalletJson(user, wallet);
      },
    });
    app.patch('/users/:id/wallet', {
      config: { tenancy: { params: { id: 'user' } } },
      schema: {
        tags: ['wallets'],
        summary: "Set the wallet's auto top-up",
        description:
          'Merges `auto_top_up` into the wallet (creating it if missing) and returns the user with its wallet, as ' +
          'GET does. When a debit takes an active auto top-up wallet below `threshold` (default: the organization\'s ' +
          'minimum), the gateway emits `wallet.auto_top_up_requested` once per crossing, with a `request_id`; the ' +
          'payment service charges `payment_method` and calls `POST /v1/top_up` with `type: "auto"` and ' +
          '`Idempotency-Key: <request_id>`. A wallet already below its threshold when switched on asks at once. ' +
          'The gateway holds no card data.',
        params: idParams,
        body: z.strictObject({
          auto_top_up: z.strictObject({
            active: z.boolean().optional(),
            payment_method: z.string().min(1).max(200).nullable().optional().describe("the payment service's reference"),
            amount: cents({ min: 0, max: MAX_TOP_UP_CENTS }).optional().describe('cents to top up by'),
            threshold: cents({ min: 0, max: MAX_TOP_UP_CENTS })
              .nullable()
              .optional()
              .describe("cents; null = the organization's minimum"),
          }),
        }),
        response: { 200: userWithWalletSchema, ...conflictErrors },
      },
      handler: async (req) => {
        const { user, wallet } = await updateAutoTopUp(deps.db, deps.clock, req.params.id, req.body.auto_top_up);
        return userWithWalletJson(user, wallet);
      },
    });
    app.get('/users/:id/wallet/transactions', {
      config: { tenancy: { params: { id: 'user' } } },
      schema: {
        tags: ['wallets'],
        summary: "The wallet's ledger, oldest first",
        params: idParams,
        querystring: listQuery.extend({ session: objectId.optional().describe("only this session's entries") }),
        response: { 200: pageOf(ledgerEntrySchema), ...commonErrors },
      },
      handler: async (req) => {
        const { wallet } = await getOrCreateWallet(deps.db, deps.clock, req.params.id);
        const page = await listEntries(deps.db, wallet.id, req.query);
        return { data: page.data.map(ledgerJson), next_cursor: page.next_cursor };
      },
    });
  };
}
