using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TenantEvents.Quotas;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Billing;

/// <summary>
/// Billing tests' steps: a tenant billed from November 2026 with a county tree, its own rate card, usage put on the
/// days it happened (AI compute reserved and committed through the API with the clock on that day), and the month closed.
/// </summary>
public abstract class BillingTest(AppFixture fixture) : IntegrationTest(fixture)
{
    protected static DateTimeOffset At(int month, int day, int hour = 10) =>
        new(month == 13 ? 2027 : 2026, month == 13 ? 1 : month, day, hour, 0, 0, TimeSpan.Zero);

    protected void ClockAt(DateTimeOffset at) => Fixture.Time.SetUtcNow(at);

    protected sealed record Tree(Guid Tenant, Guid Root, Guid CountyA, Guid CountyB);

    /// <summary>An active tenant on 2 November 2026 with counties A and B under its root, billed (its terms set) from then.</summary>
    protected async Task<Tree> Billed(string slug = "travis-sheriff", object? terms = null)
    {
        ClockAt(At(11, 2, 9));
        var tenant = await Active(slug);
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        var a = Guid.Parse((await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "County A", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        var b = Guid.Parse((await admin.Post($"/api/tenants/{tenant}/organisations", new { parentId = root, name = "County B", kind = "unit" }))
            .ShouldBe(HttpStatusCode.Created).Str("id"));
        (await admin.Put($"/api/tenants/{tenant}/billing/terms", terms ?? Terms())).ShouldBe(HttpStatusCode.OK);
        return new Tree(tenant, root, a, b);
    }

    protected static object Terms(string recovery = "full", decimal? subsidy = null, string split = "even", object[]? costCentres = null,
        bool approval = false, bool purchaseOrder = false) => new
    {
        buyer = new { name = "Travis County Sheriff", country = "US", street = "5555 Airport Blvd", city = "Austin", postalCode = "78751" },
        recovery, subsidy, split, costCentres = costCentres ?? [], approvalRequired = approval, purchaseOrderRequired = purchaseOrder, paymentTermDays = 30,
    };

    /// <summary>A card of the tenant's own from 1 November: a monthly fee, AI compute per unit, allocated AI compute per unit-month; 10 % tax.</summary>
    protected static object Card(int version = 1, string from = "2026-11-01", decimal fee = 300m, decimal ai = 0.05m, decimal allocated = 0.002m,
        decimal tax = 0.10m, decimal commitment = 0m) => new
    {
        name = "county-services", version, effectiveFrom = from, currency = "USD", taxRate = tax, minimumCommitment = commitment,
        charges = new object[]
        {
            new { name = "Platform fee", metric = "fixed", amount = fee },
            new { name = "AI compute", metric = "aiCompute", unitPrice = ai },
            new { name = "Reserved AI compute", metric = "allocated:aiComputeUnitsPerMonth", unitPrice = allocated },
        },
    };

    protected async Task AddCard(Guid tenant, object card) =>
        (await Admin.Post($"/api/tenants/{tenant}/billing/rate-cards", card)).ShouldBe(HttpStatusCode.Created);

    /// <summary>AI compute used at an organisation (null: the tenant as a whole) on a day: reserved and committed through the API then.</summary>
    protected async Task UseAi(Guid tenant, Guid? org, long units, DateTimeOffset at)
    {
        ClockAt(at);
        var admin = TenantAdminOf(tenant);
        var reservation = (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations", new { units, organisationId = org }))
            .ShouldBe(HttpStatusCode.Created);
        (await admin.Post($"/api/tenants/{tenant}/ai-compute/reservations/{reservation.Str("id")}/commit", new { units })).ShouldBe(HttpStatusCode.OK);
    }

    /// <summary>Usage counted for a past day after the fact (as a late flush of another instance lands), through the usage store.</summary>
    protected async Task CountLate(Guid tenant, Guid org, string metric, DateTimeOffset day, long amount)
    {
        var store = Fixture.Host.Services.GetRequiredService<QuotaUsageStore>();
        await store.InTenantAsync(tenant, "test", async (connection, transaction) =>
        {
            await store.AddDailyAsync(connection, transaction, metric, day, org, amount, CancellationToken.None);
            return 0;
        }, CancellationToken.None);
    }

    protected async Task<Reply> Close(Guid tenant, string month) => await Admin.Post($"/api/tenants/{tenant}/billing/months/{month}/close");

    protected async Task<List<JsonElement>> Invoices(Guid tenant, string month, HttpClient? client = null) =>
        (await (client ?? Admin).Get($"/api/tenants/{tenant}/billing/invoices?month={month}&kind=invoice")).ShouldBe(HttpStatusCode.OK)
        .Json.GetProperty("items").EnumerateArray().ToList();

    protected static JsonElement Of(IEnumerable<JsonElement> invoices, Guid? org) =>
        invoices.Single(i => org is null
            ? !i.TryGetProperty("organisationId", out var o) || o.ValueKind == JsonValueKind.Null
            : i.TryGetProperty("organisationId", out var p) && p.ValueKind != JsonValueKind.Null && p.GetGuid() == org);

    protected async Task<JsonElement> Invoice(Guid tenant, JsonElement summary, HttpClient? client = null) =>
        (await (client ?? Admin).Get($"/api/tenants/{tenant}/billing/invoices/{summary.GetProperty("id").GetGuid()}")).ShouldBe(HttpStatusCode.OK).Json;

    protected static decimal Dec(JsonElement e, string property) => e.GetProperty(property).GetDecimal();

    protected static List<JsonElement> Lines(JsonElement invoice) => invoice.GetProperty("lines").EnumerateArray().ToList();
}
