using System.Net;
using System.Text.Json;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Billing;

/// <summary>An invoice's life after the close: purchase order, approval, gap-free numbers, payments, void and credit notes.</summary>
public class InvoiceLifecycleTests(AppFixture fixture) : BillingTest(fixture)
{
    private async Task<(Tree Tree, List<Guid> Counties)> ClosedWithCounties(int counties, object? terms = null)
    {
        var t = await Billed(terms: terms);
        await AddCard(t.Tenant, Card(fee: 0m));
        var admin = TenantAdminOf(t.Tenant);
        var ids = new List<Guid> { t.CountyA, t.CountyB };
        for (var i = ids.Count; i < counties; i++)
            ids.Add(Guid.Parse((await admin.Post($"/api/tenants/{t.Tenant}/organisations", new { parentId = t.Root, name = $"County {i}", kind = "unit" }))
                .ShouldBe(HttpStatusCode.Created).Str("id")));
        foreach (var (org, i) in ids.Select((o, i) => (o, i))) await UseAi(t.Tenant, org, 100 * (i + 1), At(11, 10 + i % 10));
        await UseAi(t.Tenant, null, 10, At(11, 20));   // the tenant as a whole: the root's
        ClockAt(At(12, 2));
        (await Close(t.Tenant, "2026-11")).ShouldBe(HttpStatusCode.Created);
        return (t, ids);
    }

    private static string Url(Guid tenant, JsonElement invoice, string step = "") =>
        $"/api/tenants/{tenant}/billing/invoices/{invoice.GetProperty("id").GetGuid()}{step}";

    [Fact]
    public async Task concurrent_finalisations_take_numbers_without_gaps_or_repeats_and_a_refused_one_takes_none()
    {
        var (t, counties) = await ClosedWithCounties(12);
        var invoices = await Invoices(t.Tenant, "2026-11");
        var admin = TenantAdminOf(t.Tenant);
        // One refused before: the tenant's own invoice is the platform's to finalise, not the tenant's.
        (await admin.Post(Url(t.Tenant, Of(invoices, null), "/finalise"))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        var replies = await Task.WhenAll(counties.Select(c => admin.Post(Url(t.Tenant, Of(invoices, c), "/finalise"))));
        replies.ShouldAllBe(r => r.Status == HttpStatusCode.OK);
        replies.Select(r => r.Str("number")).Order().ShouldBe(Enumerable.Range(1, 12).Select(n => $"TRAVIS-SHERIFF-INV-2026-{n:D6}"));
        replies.ShouldAllBe(r => r.Str("state") == "finalised" && r.Str("issueDate") == "2026-12-02" && r.Str("dueDate") == "2027-01-01");
        // Finalising again is refused and takes no number; the platform's series is its own.
        (await admin.Post(Url(t.Tenant, Of(invoices, counties[0]), "/finalise"))).ShouldBeProblem(HttpStatusCode.Conflict, "invoice-state");
        var platform = (await Admin.Post(Url(t.Tenant, Of(invoices, null), "/finalise"))).ShouldBe(HttpStatusCode.OK);
        platform.Str("number").ShouldBe("TE-TRAVIS-SHERIFF-INV-2026-000001");
        var root = Of(invoices, t.Root);
        (await admin.Post(Url(t.Tenant, root, "/finalise"))).ShouldBe(HttpStatusCode.OK).Str("number").ShouldBe("TRAVIS-SHERIFF-INV-2026-000013");
    }

    [Fact]
    public async Task a_void_keeps_its_number_and_a_credit_note_takes_one_of_its_own_never_crediting_more_than_is_left()
    {
        var (t, _) = await ClosedWithCounties(2);
        var invoices = await Invoices(t.Tenant, "2026-11");
        var admin = TenantAdminOf(t.Tenant);
        var a = Of(invoices, t.CountyA);   // 100 units: 5.00 + 10 % = 5.50
        var b = Of(invoices, t.CountyB);   // 200 units: 10.00 + 10 % = 11.00
        (await admin.Post(Url(t.Tenant, a, "/void"), new { reason = "" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(Url(t.Tenant, a, "/finalise"))).ShouldBe(HttpStatusCode.OK);
        var voided = (await admin.Post(Url(t.Tenant, a, "/void"), new { reason = "Billed to the wrong county" })).ShouldBe(HttpStatusCode.OK);
        voided.Str("state").ShouldBe("void");
        voided.Str("number").ShouldBe("TRAVIS-SHERIFF-INV-2026-000001");
        (await admin.Post(Url(t.Tenant, a, "/payments"), new { amount = 1m })).ShouldBeProblem(HttpStatusCode.Conflict, "invoice-state");

        var finalised = (await admin.Post(Url(t.Tenant, b, "/finalise"))).ShouldBe(HttpStatusCode.OK);
        finalised.Str("number").ShouldBe("TRAVIS-SHERIFF-INV-2026-000002");
        Dec(finalised.Json, "total").ShouldBe(11.00m);
        (await admin.Post(Url(t.Tenant, b, "/payments"), new { amount = 20m })).ShouldBeProblem(HttpStatusCode.Conflict, "overpayment");
        (await admin.Post(Url(t.Tenant, b, "/payments"), new { amount = 0.005m })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await admin.Post(Url(t.Tenant, b, "/payments"), new { amount = 5m, reference = "EFT 881" })).ShouldBe(HttpStatusCode.OK);
        // Paid in part: no void, a credit note instead: 4.00 net + 10 % = 4.40, numbered in the credit-note series.
        (await admin.Post(Url(t.Tenant, b, "/void"), new { reason = "x" })).ShouldBeProblem(HttpStatusCode.Conflict, "invoice-state");
        var note = (await admin.Post(Url(t.Tenant, b, "/credit-notes"), new { amount = 4m, reason = "Outage on 12 November" })).ShouldBe(HttpStatusCode.Created);
        note.Str("kind").ShouldBe("credit-note");
        note.Str("number").ShouldBe("TRAVIS-SHERIFF-CN-2026-000001");
        note.Str("invoiceNumber").ShouldBe("TRAVIS-SHERIFF-INV-2026-000002");
        Dec(note.Json, "total").ShouldBe(4.40m);
        var after = (await admin.Get(Url(t.Tenant, b))).ShouldBe(HttpStatusCode.OK).Json;
        Dec(after, "balance").ShouldBe(11.00m - 5m - 4.40m);
        // A credit note may pass what is still owed (a refund), never what is left uncredited: 11.00 - 4.40 = 6.60.
        (await admin.Post(Url(t.Tenant, b, "/credit-notes"), new { amount = 6.01m, reason = "More" })).ShouldBeProblem(HttpStatusCode.Conflict, "over-credit");
        (await admin.Post(Url(t.Tenant, b, "/credit-notes"), new { reason = "All of it" })).ShouldBeProblem(HttpStatusCode.Conflict, "partly-credited");
        // The rest paid: the invoice is paid.
        (await admin.Post(Url(t.Tenant, b, "/payments"), new { amount = 1.60m })).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("paid");
        // The refused credit notes took no number.
        var root = Of(invoices, t.Root);
        (await admin.Post(Url(t.Tenant, root, "/finalise"))).ShouldBe(HttpStatusCode.OK);
        (await admin.Post(Url(t.Tenant, root, "/credit-notes"), new { reason = "Goodwill" })).ShouldBe(HttpStatusCode.Created)
            .Str("number").ShouldBe("TRAVIS-SHERIFF-CN-2026-000002");
    }

    [Fact]
    public async Task where_procurement_asks_an_invoice_needs_its_buyers_approval_by_someone_else_and_a_purchase_order_before_it_is_finalised()
    {
        var (t, _) = await ClosedWithCounties(2, Terms(approval: true, purchaseOrder: true));
        var invoices = await Invoices(t.Tenant, "2026-11");
        var admin = TenantAdminOf(t.Tenant);
        var a = Of(invoices, t.CountyA);
        // County A's finance officer holds billing.manage there.
        (await admin.Put($"/api/tenants/{t.Tenant}/roles/county-finance", new { description = "County finance", permissions = new[] { "billing.read", "billing.manage" } }))
            .ShouldBe(HttpStatusCode.OK);
        (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{t.CountyA}/grants", new { principal = new { kind = "user", id = "fin-a" }, role = "county-finance" }))
            .ShouldBe(HttpStatusCode.Created);
        var finance = Member(t.Tenant, "fin-a");
        (await admin.Post(Url(t.Tenant, a, "/finalise"))).ShouldBeProblem(HttpStatusCode.Conflict, "approval-required");
        // The seller does not approve for its buyer: not the tenant's administrators, not the platform's.
        (await admin.Post(Url(t.Tenant, a, "/approve"))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Admin.Post(Url(t.Tenant, a, "/approve"))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await Admin.Post(Url(t.Tenant, a, "/finalise"))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await finance.Post(Url(t.Tenant, a, "/finalise"))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await finance.Post(Url(t.Tenant, Of(invoices, t.CountyB), "/approve"))).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await finance.Post(Url(t.Tenant, a, "/approve"))).ShouldBe(HttpStatusCode.OK).Json.GetProperty("approvedBy").GetProperty("subject").GetString().ShouldBe("fin-a");
        (await admin.Post(Url(t.Tenant, a, "/finalise"))).ShouldBeProblem(HttpStatusCode.Conflict, "purchase-order-required");
        (await finance.Put(Url(t.Tenant, a, "/purchase-order"), new { purchaseOrder = "" })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        var po = (await finance.Put(Url(t.Tenant, a, "/purchase-order"), new { purchaseOrder = "PO-2026-4711" })).ShouldBe(HttpStatusCode.OK);
        // If-Match guards every step.
        (await admin.Post(Url(t.Tenant, a, "/finalise"), headers: new Dictionary<string, string> { ["If-Match"] = "\"1\"" }))
            .ShouldBeProblem(HttpStatusCode.PreconditionFailed, "stale-version");
        var done = (await admin.Post(Url(t.Tenant, a, "/finalise"), headers: new Dictionary<string, string> { ["If-Match"] = po.ETag! })).ShouldBe(HttpStatusCode.OK);
        done.Str("purchaseOrder").ShouldBe("PO-2026-4711");
        // The platform never approves for its buyer; the tenant approves its own invoice.
        var tenantInvoice = Of(invoices, null);
        (await Admin.Post(Url(t.Tenant, tenantInvoice, "/approve"))).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        (await admin.Post(Url(t.Tenant, tenantInvoice, "/approve"))).ShouldBe(HttpStatusCode.OK);
        (await admin.Put(Url(t.Tenant, tenantInvoice, "/purchase-order"), new { purchaseOrder = "TX-PO-1" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post(Url(t.Tenant, tenantInvoice, "/finalise"))).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_months_organisation_invoices_are_finalised_at_once_with_consecutive_numbers_leaving_what_procurement_holds_back()
    {
        var (t, counties) = await ClosedWithCounties(5, Terms(approval: true));
        var invoices = await Invoices(t.Tenant, "2026-11");
        var admin = TenantAdminOf(t.Tenant);
        (await admin.Put($"/api/tenants/{t.Tenant}/roles/county-finance", new { description = "County finance", permissions = new[] { "billing.manage" } }))
            .ShouldBe(HttpStatusCode.OK);
        foreach (var county in counties.Take(3))
        {
            (await admin.Post($"/api/tenants/{t.Tenant}/organisations/{county}/grants", new { principal = new { kind = "user", id = "fin" }, role = "county-finance" }))
                .ShouldBe(HttpStatusCode.Created);
            (await Member(t.Tenant, "fin").Post(Url(t.Tenant, Of(invoices, county), "/approve"))).ShouldBe(HttpStatusCode.OK);
        }
        (await Member(t.Tenant, "fin").Post($"/api/tenants/{t.Tenant}/billing/months/2026-11/finalise")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Admin.Post($"/api/tenants/{t.Tenant}/billing/months/2026-11/finalise")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
        var done = (await admin.Post($"/api/tenants/{t.Tenant}/billing/months/2026-11/finalise")).ShouldBe(HttpStatusCode.OK).Json;
        done.GetProperty("finalised").GetInt32().ShouldBe(3);
        done.GetProperty("firstNumber").GetString().ShouldBe("TRAVIS-SHERIFF-INV-2026-000001");
        done.GetProperty("lastNumber").GetString().ShouldBe("TRAVIS-SHERIFF-INV-2026-000003");
        // The two counties and the root nobody approved stay drafts, saying why; the platform's own invoice is not touched.
        done.GetProperty("left").EnumerateArray().Select(l => l.GetProperty("reason").GetString()).ShouldBe(["approval-required", "approval-required", "approval-required"]);
        Of(await Invoices(t.Tenant, "2026-11"), null).GetProperty("state").GetString().ShouldBe("draft");
        // Once more: nothing new to finalise, and the next single finalisation takes the next number.
        (await admin.Post($"/api/tenants/{t.Tenant}/billing/months/2026-11/finalise")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("finalised").GetInt32().ShouldBe(0);
        (await Member(t.Tenant, "fin").Get(Url(t.Tenant, Of(invoices, counties[0])))).ShouldBe(HttpStatusCode.OK).Str("state").ShouldBe("finalised");
    }

    [Fact]
    public async Task under_showback_the_counties_see_their_costs_on_statements_that_are_never_invoiced()
    {
        var (t, _) = await ClosedWithCounties(2, Terms("showback"));
        var invoices = await Invoices(t.Tenant, "2026-11");
        var a = await Invoice(t.Tenant, Of(invoices, t.CountyA));
        a.GetProperty("showback").GetBoolean().ShouldBeTrue();
        Dec(a, "total").ShouldBe(0m);
        Lines(a).Sum(l => Dec(l, "shown")).ShouldBe(5.00m);
        (await TenantAdminOf(t.Tenant).Post(Url(t.Tenant, a, "/finalise"))).ShouldBeProblem(HttpStatusCode.Conflict, "showback-statement");
        // The root bears it all: the tenant's invoice is the root's.
        Dec(Of(invoices, t.Root), "total").ShouldBe(Dec(Of(invoices, null), "total"));
    }
}
