using TenantEvents.Infrastructure;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Organisations;
using TenantEvents.Tenants;

namespace TenantEvents.Billing;

/// <summary>What a step on an invoice sees: the document (locked), the account's terms, the tenant, the caller and the transaction.</summary>
public sealed record InvoiceStep(Invoice Document, BillingAccount Account, Tenant Tenant, Actor Actor, TenantTransaction Tx, DateTimeOffset Now);

/// <summary>What a step decided: events for the document, or a refusal; optionally an answer of its own (a credit note's 201).</summary>
public sealed record InvoiceOutcome(IReadOnlyList<object> Events, Problem? Refusal = null, Func<Invoice, IResult>? Answer = null);

/// <summary>
/// The one edge of every step on an invoice: the caller's standing, If-Match, the document locked in the tenant's
/// transaction, the caller's right to take the step (who may see it, the seller's and the buyer's side, BillingHttp),
/// the step's decision, the events appended and the snapshot written, all committed together.
/// </summary>
public static class InvoiceEdge
{
    public static async Task<IResult> RunAsync(HttpContext http, Guid tenantId, Guid documentId, BillingStore billing, OrganisationStore organisations,
        Func<Caller, Standing, AccessGraph, Invoice, Problem?> authorise, Func<InvoiceStep, Task<InvoiceOutcome>> decide, CancellationToken cancellation)
    {
        var (standing, refusal) = await BillingHttp.Enter(http, billing.Streams, organisations, tenantId, cancellation);
        if (refusal is not null) return refusal;
        if (!TenantHttp.TryExpectedVersion(http.Request, out var expected, out var versionError)) return versionError!;
        var (tenant, _) = await billing.TenantAsync(tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        var caller = http.Caller();
        await using var tx = await billing.Streams.BeginAsync(null, tenantId, cancellation);
        var document = await billing.LoadDocumentAsync(tx, documentId, cancellation, forUpdate: true);
        if (document is null) return Problem.NotFound("invoice").ToResult();
        var problem = await organisations.ReadAsync(tenantId, g =>
            !BillingHttp.CanRead(standing!, g, document.OrganisationId) ? Problem.NotFound("invoice") : authorise(caller, standing!, g, document), cancellation);
        if (problem is not null) return problem.ToResult();
        if (expected is { } v && v != document.Version) return Problem.StaleVersion(v, document.Version).ToResult();
        var account = await billing.LoadAccountAsync(tx.Session, tenantId, cancellation);
        if (account.Terms is null) return Problem.NotFound("invoice").ToResult();
        var outcome = await decide(new InvoiceStep(document, account, tenant, caller.Actor, tx, billing.Now));
        if (outcome.Refusal is not null) return outcome.Refusal.ToResult();
        var after = outcome.Events.Count == 0 ? document : await billing.SaveDocumentAsync(tx, document, outcome.Events, cancellation);
        if (outcome.Events.Count > 0 && !await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        return outcome.Answer?.Invoke(after) ?? BillingHttp.Document(http, after);
    }
}
