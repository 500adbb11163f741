import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { TopUp } from '../../db/tables/wallets.ts';
import { createManualTopUp, getTopUp, MAX_TOP_UP_CENTS } from '../../domain/wallets/top-ups.ts';
import type { AppContext } from '../../context.ts';
import { cents, commonErrors, conflictErrors, idParams, isoDate, objectId } from '../schemas.ts';
import { walletChanged } from '../../domain/live.ts';
import { ValidationError } from '../../shared/errors.ts';

export const topUpSchema = z
  .object({
    _id: z.string(),
    type: z.string(),
    wallet: z.string(),
    amount: z.number().int(),
    wallet_amount: z.number().int(),
    currency: z.string(),
    status: z.string(),
    test_mode: z.boolean(),
    createdAt: isoDate,
  })
  .meta({ id: 'TopUp' });

function json(t: TopUp): z.infer<typeof topUpSchema> {
  return {
    _id: t.id,
    type: t.type,
    wallet: t.wallet_id,
    amount: t.amount,
    wallet_amount: t.wallet_amount,
    currency: t.currency,
    status: t.status,
    test_mode: t.test_mode,
    createdAt: t.created_at.toISOString(),
  };
}

const amount = cents({ min: 1, max: MAX_TOP_UP_CENTS });

export function topUpRoutes(deps: AppContext): FastifyPluginAsyncZod {
  return async (app) => {
    const tags = ['wallets'];
    app.post('/top_up', {
      config: { tenancy: { body: { wallet: 'wallet' } } },
      schema: {
        tags,
        summary: 'Credit a wallet (manual or auto top-up)',
        description:
          'Credits `wallet_amount` (default `amount`) at once. Send an `Idempotency-Key` header to make retries safe: ' +
          'the same key and body return the same top-up and credit once; the same key with another body is a 409. ' +
          "Keys are scoped to the wallet owner's organization: any API key of that organization (or a global key) " +
          'retrying with the same key gets the same top-up.',
        headers: z.object({ 'idempotency-key': z.string().min(1).max(255).optional() }),
        body: z.strictObject({
          type: z
            .enum(['manual', 'auto'])
            .describe('manual: an operator credit; auto: the payment service answering wallet.auto_top_up_requested (needs an Idempotency-Key: the request_id)'),
          wallet: objectId,
          amount: amount.describe('cents paid'),
          wallet_amount: amount.optional().describe('cents credited to the wallet (default: amount)'),
        }),
        response: { 201: topUpSchema, ...conflictErrors },
      },
      handler: async (req, reply) => {
        const key = req.headers['idempotency-key'];
        if (req.body.type === 'auto' && !key) {
          throw new ValidationError('an auto top-up needs an Idempotency-Key header: the request_id of wallet.auto_top_up_requested');
        }
        const { topUp, created } = await createManualTopUp(
          deps.db,
          deps.clock,
          req.body,
          key ? { key } : undefined,
        );
        if (created) {
          deps.log.info({ topUp: topUp.id, wallet: topUp.wallet_id, amount: topUp.wallet_amount }, 'wallet topped up');
          deps.events?.publish(walletChanged(topUp.wallet_id));
          deps.localList?.walletsChanged([topUp.wallet_id]);
        } else {
          reply.header('Idempotent-Replayed', 'true');
        }
        return reply.status(201).send(json(topUp));
      },
    });
    app.get('/top_up/:id', {
      config: { tenancy: { params: { id: 'top_up' } } },
      schema: { tags, summary: 'Get a top-up', params: idParams, response: { 200: topUpSchema, ...commonErrors } },
      handler: async (req) => {
        return json(await getTopUp(deps.db, req.params.id));
      },
    });
  };
}
