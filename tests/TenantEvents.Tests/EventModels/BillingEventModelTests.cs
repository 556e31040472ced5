using System.Globalization;
using System.Text.Json;
using TenantEvents.Billing;
using TenantEvents.Infrastructure.Security;

namespace TenantEvents.Tests.EventModels;

/// <summary>Keeps eventmodels/billing.json true to the code: events, routes, and the examples against the pure invoice decisions.</summary>
public class BillingEventModelTests
{
    private static readonly JsonElement Model = EventModelFile.Load("billing.json");
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 9, 0, 0, TimeSpan.Zero);
    private static readonly Actor Seller = new("seller", "user"), Approver = new("approver", "user");

    [Fact]
    public void every_event_in_the_model_is_in_the_code_and_the_reverse() =>
        EventModelFile.Events(Model).ShouldBe(EventModelFile.Names(BillingEventTypes.All));

    [Fact]
    public void every_route_in_the_model_is_served_and_every_billing_route_is_modelled() =>
        EventModelFile.ModelledRoutes(Model).ShouldBe(EventModelFile.ServedRoutes(typeof(BillingEventTypes)));

    public static IEnumerable<object[]> Examples() =>
        Model.GetProperty("examples").EnumerateArray().Select(e => new object[] { e.GetProperty("name").GetString()! });

    [Theory]
    [MemberData(nameof(Examples))]
    public void the_examples_hold(string name)
    {
        var example = Model.GetProperty("examples").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var args = example.GetProperty("args").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var id = Guid.CreateVersion7();
        var party = new Party("Travis County Sheriff", "US");
        // 100.00 net at 10 %: 110.00.
        var line = new BilledLine("AI compute", "aiCompute", 2_000, 100m, 100m, 0.10m, "card", 1, new DateOnly(2026, 11, 1), new DateOnly(2026, 11, 30));
        Invoice? invoice = null;
        foreach (var given in example.GetProperty("given").EnumerateArray().Select(g => g.GetString()))
            invoice = Invoice.Apply(invoice, given switch
            {
                nameof(InvoiceDrafted) => new InvoiceDrafted(id, null, "2026-11", party, party, "USD", [line], 100m, 10m, 110m, args.ContainsKey("showback"), Actor.System, Now),
                nameof(InvoiceApproved) => new InvoiceApproved(id, Approver, Now),
                nameof(InvoiceFinalised) => new InvoiceFinalised(id, "TE-1", new DateOnly(2026, 12, 2), new DateOnly(2027, 1, 1), Seller, Now),
                nameof(InvoicePaid) => new InvoicePaid(id, 10m, new DateOnly(2026, 12, 3), null, Seller, Now),
                _ => throw new InvalidOperationException(given),
            });
        var terms = new BillingTermsSet(party, RecoveryModels.Full, 0, SplitModels.Even, [], args.ContainsKey("approval"), args.ContainsKey("purchaseOrder"), 30,
            Actor.System, Now);
        var by = args.GetValueOrDefault("as") == "approver" ? Approver : Seller;
        decimal? Amount() => args.TryGetValue("amount", out var a) ? decimal.Parse(a, CultureInfo.InvariantCulture) : null;
        var (events, refusal) = example.GetProperty("when").GetString() switch
        {
            "FinaliseInvoice" => InvoiceDecisions.CanFinalise(invoice!, terms, by) is { } no
                ? ([], no) : ((IReadOnlyList<object>)[InvoiceDecisions.Finalise(invoice!, "TE-1", 30, by, Now)], null),
            "RecordInvoicePayment" => InvoiceDecisions.Pay(invoice!, Amount(), null, null, by, Now),
            "VoidInvoice" => InvoiceDecisions.Void(invoice!, "wrong county", by, Now),
            "CreditInvoice" => InvoiceDecisions.Credit(invoice!, Amount(), "outage", Guid.CreateVersion7(), "CN-1", by, Now) is var (note, problem)
                ? (note is null ? [] : (IReadOnlyList<object>)[note], problem) : default,
            "SetInvoicePurchaseOrder" => InvoiceDecisions.PurchaseOrder(invoice!, "PO-1", by, Now),
            var other => throw new InvalidOperationException(other),
        };
        if (example.TryGetProperty("refused", out var refused))
        {
            refusal.ShouldNotBeNull();
            refusal.Code.ShouldBe(refused.GetString());
        }
        else
        {
            refusal.ShouldBeNull(refusal?.Detail);
            events.Select(e => e.GetType().Name).ShouldBe(example.GetProperty("then").EnumerateArray().Select(x => x.GetString()!));
        }
    }
}
