using Microsoft.AspNetCore.Authorization;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Http;

namespace TenantEvents.Billing;

/// <summary>An invoice left a draft by a month's finalisation, and why (its refusal's code).</summary>
public sealed record InvoiceLeft(Guid InvoiceId, Guid? OrganisationId, string Reason);

public sealed record MonthFinalised(string Month, int Finalised, string? FirstNumber, string? LastNumber, IReadOnlyList<InvoiceLeft> Left, bool More);

public static class FinaliseMonthEndpoint
{
    /// <summary>The most invoices one call finalises (the rest: call again).</summary>
    public const int MaxPerCall = 1_000;

    /// <summary>
    /// The tenant's administrators finalise their organisations' draft invoices of a month at once (up to 1,000 a call, in
    /// the order they were drafted; 'more' says when to call again): each decided as one finalisation is
    /// (<see cref="InvoiceDecisions.CanFinalise"/>), those procurement holds back left as drafts with the reason; the
    /// numbers taken are consecutive in the tenant's series, in one transaction.
    /// </summary>
    [WolverinePost("/api/tenants/{tenantId}/billing/months/{month}/finalise", OperationId = "FinaliseBillingMonth")]
    [Authorize(Roles = OrgHttp.WriteRoles)]
    public static async Task<IResult> Post(Guid tenantId, string month, HttpContext http, BillingStore billing, OrganisationStore organisations,
        CancellationToken cancellation)
    {
        if (BillingMonths.Parse(month) is null) return Problem.Validation("month", "invalid-month", "a UTC month as YYYY-MM.").ToResult();
        var (standing, refusal) = await BillingHttp.Enter(http, billing.Streams, organisations, tenantId, cancellation);
        if (refusal is not null) return refusal;
        var caller = http.Caller();
        if (!caller.AdministersTenant(tenantId))
            return (await organisations.ReadAsync(tenantId, g => BillingHttp.CanRead(standing!, g, null), cancellation)
                ? Problem.Forbidden("The tenant's administrators finalise its organisations' invoices.") : Problem.NotFound("tenant")).ToResult();
        var (tenant, _) = await billing.TenantAsync(tenantId, cancellation);
        if (tenant is null) return Problem.NotFound("tenant").ToResult();
        await using var tx = await billing.Streams.BeginAsync(null, tenantId, cancellation);
        await tx.LockAsync("billing", cancellation);
        var account = await billing.LoadAccountAsync(tx.Session, tenantId, cancellation);
        if (account.Terms is not { } terms || !account.Closed.ContainsKey(month)) return Problem.NotFound("closed month").ToResult();
        var drafts = await billing.DraftsAsync(tx, month, MaxPerCall + 1, cancellation);
        var more = drafts.Count > MaxPerCall;
        var now = billing.Now;
        var left = new List<InvoiceLeft>();
        var ready = new List<Invoice>();
        foreach (var draft in drafts.Take(MaxPerCall))
            // The sealed document decides whose invoice it is (the platform's own is never finalised here, whatever its row says).
            if (draft.OrganisationId is null) left.Add(new InvoiceLeft(draft.Id, null, "platform-invoice"));
            else if (InvoiceDecisions.CanFinalise(draft, terms, caller.Actor) is { } no) left.Add(new InvoiceLeft(draft.Id, draft.OrganisationId, no.Code));
            else ready.Add(draft);
        var year = now.UtcDateTime.Year;
        var last = await billing.TakeNumbersAsync(tx, InvoiceDecisions.Series(false, "invoice", year), ready.Count, cancellation);
        var numbers = ready.Select((_, i) => InvoiceDecisions.Number("", false, tenant.Slug, "invoice", year, last - ready.Count + 1 + i)).ToList();
        foreach (var (draft, number) in ready.Zip(numbers))
            await billing.SaveDocumentAsync(tx, draft, [InvoiceDecisions.Finalise(draft, number, terms.PaymentTermDays, caller.Actor, now)], cancellation);
        if (ready.Count > 0 && !await tx.TryCommitAsync(cancellation)) return Problem.ConcurrentWrite().ToResult();
        return Results.Json(new MonthFinalised(month, ready.Count, numbers.FirstOrDefault(), numbers.LastOrDefault(), left, more), Json.Options);
    }
}
