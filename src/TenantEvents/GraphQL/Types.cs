using System.Text.Json;
using global::GraphQL;
using global::GraphQL.Types;

namespace TenantEvents.GraphQL;

public sealed class TenantType : JsonObjectType
{
    /// <summary>name=value for the query string when the argument was given (escaped), else nothing.</summary>
    public static string? Arg(IResolveFieldContext c, string name) =>
        c.GetArgument<object?>(name) is { } value ? name + "=" + Uri.EscapeDataString(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!) : null;

    public TenantType()
    {
        Name = "Tenant";
        Description = "A tenant (agency, customer) as GET /api/tenants/{id} shows it to the caller.";
        Id("id", required: true);
        Str("name", required: true);
        Str("slug", required: true);
        Str("state", required: true, "requested, approved, rejected, active, suspended, decommissioning, decommissioned");
        Str("template", required: true);
        Long("version");
        Json("residency");
        Json("settings");
        Json("contacts");
        Json("legalHolds");
        Str("requestedAt");
        Str("approvedAt");
        Str("provisionedAt");
        Str("suspensionReason");
        this.Connection<OrganisationType>("organisations", "The tenant's organisations the caller may see, in id order.",
            async c => Rest.ItemsPage(c.Source.TenantId, await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/organisations", Rest.Paging(c)))));
        Field<OrganisationType>("organisation").Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveRest(async c => new Node(c.Source.TenantId, await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/organisations/{c.GetArgument<Guid>("id")}")));
        Field<JsonGraphType>("quotas").Description("Quota usage against the allocations (GET /api/tenants/{id}/quotas).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/quotas"));
        Field<JsonGraphType>("sharingAgreements").Description("The agreements the tenant is a party to (GET /api/tenants/{id}/sharing/agreements).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/sharing/agreements"));
        Field<JsonGraphType>("collaborations").Description("COI channels and joint investigations the tenant takes part in.")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/collaborations"));
        Field<JsonGraphType>("effectiveAccess").Description("Where a principal holds a permission, and why (GET /api/tenants/{id}/access/explain).")
            .Argument<NonNullGraphType<StringGraphType>>("principal", "user:ID or group:ID")
            .Argument<NonNullGraphType<StringGraphType>>("permission")
            .Argument<NonNullGraphType<IdGraphType>>("organisationId")
            .ResolveRest(async c => await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/access/explain",
                "principal=" + Uri.EscapeDataString(c.GetArgument<string>("principal")), "permission=" + Uri.EscapeDataString(c.GetArgument<string>("permission")),
                "organisationId=" + c.GetArgument<Guid>("organisationId"))));
        Field<JsonGraphType>("activeUsers").Description("Distinct active users per day, ISO week or month, with DAU/MAU (GET /api/tenants/{id}/analytics/active-users).")
            .Argument<StringGraphType>("granularity", "day, week or month").Argument<StringGraphType>("from", "YYYY-MM-DD (UTC)").Argument<StringGraphType>("to")
            .Argument<StringGraphType>("feature").Argument<IdGraphType>("organisationId")
            .ResolveRest(async c => await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/analytics/active-users",
                Arg(c, "granularity"), Arg(c, "from"), Arg(c, "to"), Arg(c, "feature"), Arg(c, "organisationId"))));
        Field<JsonGraphType>("adoption").Description("Users per feature area and their share of the active users (GET /api/tenants/{id}/analytics/adoption).")
            .Argument<StringGraphType>("from").Argument<StringGraphType>("to")
            .ResolveRest(async c => await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/analytics/adoption", Arg(c, "from"), Arg(c, "to"))));
        Field<JsonGraphType>("utilisation").Description("Usage against the quota limits per kind and period (GET /api/tenants/{id}/analytics/utilisation).")
            .Argument<StringGraphType>("from").Argument<StringGraphType>("to")
            .ResolveRest(async c => await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/analytics/utilisation", Arg(c, "from"), Arg(c, "to"))));
        Field<JsonGraphType>("health").Description("State, activity trend, quota pressure, deliveries, approvals waiting (GET /api/tenants/{id}/analytics/health).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/analytics/health"));
        Field<JsonGraphType>("billing").Description("The tenant's billing account: terms, rate cards, budgets, months closed (GET /api/tenants/{id}/billing).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/billing"));
        Field<JsonGraphType>("budgets").Description("Where each budget the caller may read stands this month (GET /api/tenants/{id}/billing/budgets).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/billing/budgets"));
        Field<JsonGraphType>("billingMonth").Description("A closed month's cost recovery: each organisation's total and its subtree's (GET .../billing/months/{month}).")
            .Argument<NonNullGraphType<StringGraphType>>("month", "YYYY-MM (UTC)")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/billing/months/{Uri.EscapeDataString(c.GetArgument<string>("month"))}"));
        this.Connection<InvoiceType>("invoices", "The invoices and credit notes the caller may read, in creation order (GET .../billing/invoices).", async c =>
            Rest.ItemsPage(c.Source.TenantId, await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/billing/invoices", Rest.Paging(c),
                Arg(c, "month"), Arg(c, "organisationId"), Arg(c, "kind"), Arg(c, "state")))),
            ("month", typeof(StringGraphType)), ("organisationId", typeof(IdGraphType)), ("kind", typeof(StringGraphType)), ("state", typeof(StringGraphType)));
        Field<InvoiceType>("invoice").Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveRest(async c => new Node(c.Source.TenantId, await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/billing/invoices/{c.GetArgument<Guid>("id")}")));
        Field<JsonGraphType>("compliance").Description("The rules of the tenant's jurisdiction that apply and why, and how it stands (GET /api/tenants/{id}/compliance).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/compliance"));
        this.Connection<DataSubjectRequestType>("dataSubjectRequests", "The tenant's data-subject requests, newest first (GET .../data-subject-requests).", async c =>
            Rest.ItemsPage(c.Source.TenantId, await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/data-subject-requests", Rest.Paging(c), Arg(c, "state")))),
            ("state", typeof(StringGraphType)));
        Field<DataSubjectRequestType>("dataSubjectRequest").Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveRest(async c => new Node(c.Source.TenantId, await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/data-subject-requests/{c.GetArgument<Guid>("id")}")));
        this.Connection<IncidentType>("incidents", "The tenant's incidents, newest first (GET .../incidents).", async c =>
            Rest.ItemsPage(c.Source.TenantId, await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/incidents", Rest.Paging(c), Arg(c, "state")))),
            ("state", typeof(StringGraphType)));
        Field<IncidentType>("incident").Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveRest(async c => new Node(c.Source.TenantId, await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/incidents/{c.GetArgument<Guid>("id")}")));
        Field<JsonGraphType>("recordsOfProcessing").Description("The records of processing, GDPR Art. 30 (GET .../compliance/records-of-processing).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/compliance/records-of-processing"));
        Field<JsonGraphType>("securityEvidence").Description("The security baseline's controls and whether each is met (GET .../security-baseline/evidence).")
            .ResolveRest(async c => await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/security-baseline/evidence"));
        this.Connection<AuditEntryType>("auditEntries", "The tenant's audit trail, oldest first.", async c =>
        {
            var body = await Rest.Get(c, Rest.Join($"/api/tenants/{c.Source.TenantId}/audit/entries", Rest.Paging(c, "after")));
            var next = body.TryGetProperty("next", out var n) && n.ValueKind == JsonValueKind.Number ? n.GetInt64().ToString() : null;
            return new Page(body.GetProperty("entries").EnumerateArray().Select(e => new Node(c.Source.TenantId, e)).ToList(), next);
        });
    }
}

public sealed class OrganisationType : JsonObjectType
{
    public OrganisationType()
    {
        Name = "Organisation";
        Description = "An organisation of a tenant's tree, as GET /api/tenants/{id}/organisations/{orgId} shows it.";
        Id("id", required: true);
        Field<NonNullGraphType<IdGraphType>>("tenantId").Resolve(c => c.Source.TenantId);
        Id("parentId");
        Str("name");
        Str("kind", required: true);
        Str("jurisdiction");
        Str("state", required: true);
        Field<IntGraphType>("depth").Resolve(c => Rest.Value(c.Source.Json, "depth") is long d ? (int)d : null);
        Long("version");
        Field<OrganisationType>("parent").ResolveRest(async c => Rest.Value(c.Source.Json, "parentId") is string parent
            ? new Node(c.Source.TenantId, await Rest.Get(c, $"/api/tenants/{c.Source.TenantId}/organisations/{parent}")) : null);
        this.Connection<OrganisationType>("children", "The organisations directly below.",
            async c => Rest.ItemsPage(c.Source.TenantId, await Rest.Get(c, Rest.Join(Self(c) + "/children", Rest.Paging(c)))));
        this.Connection<OrganisationType>("descendants", "Every organisation below, at any depth.",
            async c => Rest.ItemsPage(c.Source.TenantId, await Rest.Get(c, Rest.Join(Self(c) + "/descendants", Rest.Paging(c)))));
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<OrganisationType>>>>("ancestors").Description("From the root down to the parent.")
            .ResolveRest(async c =>
            {
                var body = await Rest.Get(c, Self(c) + "/ancestors");
                var items = body.ValueKind == JsonValueKind.Array ? body : body.GetProperty("items");
                return items.EnumerateArray().Select(e => new Node(c.Source.TenantId, e)).ToList();
            });
        Field<JsonGraphType>("grants").ResolveRest(async c => await Rest.Get(c, Self(c) + "/grants"));
        Field<JsonGraphType>("quotas").Description("Allocations and usage at this organisation.").ResolveRest(async c => await Rest.Get(c, Self(c) + "/quotas"));
    }

    private static string Self(IResolveFieldContext<Node> c) => $"/api/tenants/{c.Source.TenantId}/organisations/{Rest.Value(c.Source.Json, "id")}";
}

public sealed class AuditEntryType : JsonObjectType
{
    public AuditEntryType()
    {
        Name = "AuditEntry";
        Description = "One entry of a tenant's audit trail: who did what, when, with the state before and after.";
        Long("index");
        Id("eventId", required: true);
        Id("streamId", required: true);
        Str("streamKind", required: true);
        Long("version");
        Str("type", required: true);
        Str("time", required: true);
        Json("actor");
        Str("correlationId");
        Json("before");
        Json("after");
        Json("patch");
    }
}

public sealed class DataSubjectRequestType : JsonObjectType
{
    public DataSubjectRequestType()
    {
        Name = "DataSubjectRequest";
        Description = "A data-subject request (GDPR Art. 15-20) as GET /api/tenants/{id}/data-subject-requests/{requestId} shows it.";
        Id("id", required: true);
        Str("kind", required: true, "access, rectification, erasure, restriction or portability");
        Str("article");
        Json("subject", "Who it is about (e-mail, name), or erased.");
        Str("state", required: true, "received, verified, fulfilled, refused, closed");
        Str("ruleId", required: true, "The jurisdiction rule that sets its period.");
        Str("receivedAt", required: true);
        Str("dueAt", required: true);
        Json("overdue");
        Json("extended");
        Json("found", "Records found per category when fulfilled.");
        Json("erased");
        Json("retained");
        Json("notified");
    }
}

public sealed class IncidentType : JsonObjectType
{
    public IncidentType()
    {
        Name = "Incident";
        Description = "A tenant's incident (NIS2 Art. 23) as GET /api/tenants/{id}/incidents/{incidentId} shows it.";
        Id("id", required: true);
        Str("scope", required: true);
        Str("title", required: true);
        Str("category", required: true);
        Str("state", required: true, "registered, assessed, closed");
        Str("awareAt", required: true);
        Json("significant");
        Str("severity");
        Json("deadlines", "Each reporting stage: due, reminded, missed, met.");
        Json("reports");
        Json("escalations");
    }
}

public sealed class InvoiceType : JsonObjectType
{
    public InvoiceType()
    {
        Name = "Invoice";
        Description = "An invoice or credit note as GET /api/tenants/{id}/billing/invoices/{invoiceId} shows it (amounts as JSON numbers, exact).";
        Id("id", required: true);
        Str("kind", required: true, "invoice or credit-note");
        Id("organisationId");
        Str("month", required: true);
        Str("state", required: true, "draft, finalised, paid, void; issued (a credit note)");
        Str("number");
        Str("currency", required: true);
        Json("subtotal");
        Json("tax");
        Json("total");
        Json("balance");
        Json("lines", "Its lines: description, metric, quantity, amount, shown, tax rate, rate card, period, late usage (in a list, only with the single invoice).");
        Json("seller");
        Json("buyer");
        Str("purchaseOrder");
        Str("issueDate");
        Str("dueDate");
        Id("invoiceId");
        Long("version");
    }
}

public sealed class MeType : ObjectGraphType<RequestContext>
{
    public MeType()
    {
        Name = "Me";
        Field<StringGraphType>("subject").Resolve(c => TenantEvents.Tenants.TenantHttp.Caller(c.Source.Http).Actor.Subject);
        Field<IdGraphType>("tenantId").Resolve(c => TenantEvents.Tenants.TenantHttp.Caller(c.Source.Http).Actor.TenantId);
        Field<NonNullGraphType<ListGraphType<NonNullGraphType<StringGraphType>>>>("roles")
            .Resolve(c => c.Source.Http.User.Claims.Where(x => x.Type is TenantEvents.Infrastructure.Security.Claims.Role or System.Security.Claims.ClaimTypes.Role).Select(x => x.Value).Distinct().ToList());
    }
}

public sealed class QueryType : ObjectGraphType
{
    public QueryType()
    {
        Name = "Query";
        Field<NonNullGraphType<MeType>>("me").Description("Who the caller is.").Resolve(c => (RequestContext)c.UserContext);
        Field<NonNullGraphType<ConnectionType<TenantType>>>("tenants").Description("Tenants (platform roles), filtered like GET /api/tenants.")
            .Argument<IntGraphType>("first").Argument<StringGraphType>("after").Argument<StringGraphType>("state").Argument<StringGraphType>("template")
            .ResolveRest(async c =>
            {
                var body = await Rest.Get(c, Rest.Join("/api/tenants", Rest.Paging(c),
                    c.GetArgument<string?>("state") is { } s ? "state=" + Uri.EscapeDataString(s) : null,
                    c.GetArgument<string?>("template") is { } t ? "template=" + Uri.EscapeDataString(t) : null));
                return new Page(body.GetProperty("items").EnumerateArray().Select(e => new Node(Guid.Parse(e.GetProperty("id").GetString()!), e)).ToList(),
                    body.TryGetProperty("nextCursor", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null);
            });
        Field<TenantType>("tenant").Argument<NonNullGraphType<IdGraphType>>("id")
            .ResolveRest(async c => new Node(c.GetArgument<Guid>("id"), await Rest.Get(c, $"/api/tenants/{c.GetArgument<Guid>("id")}")));
        Field<JsonGraphType>("estate").Description("Tenants by state, template and zone, growth per month, projection lag (GET /api/analytics/estate).")
            .Argument<IntGraphType>("months", "1..60, default 12")
            .ResolveRest(async c => await Rest.Get(c, Rest.Join("/api/analytics/estate", c.GetArgument<int?>("months") is { } m ? "months=" + m : null)));
        Field<JsonGraphType>("estateAdoption").Description("Tenants per feature area and their share of the active tenants (GET /api/analytics/adoption).")
            .Argument<StringGraphType>("from").Argument<StringGraphType>("to")
            .ResolveRest(async c => await Rest.Get(c, Rest.Join("/api/analytics/adoption", TenantType.Arg(c, "from"), TenantType.Arg(c, "to"))));
        Field<JsonGraphType>("analyticsProjections").Description("The analytics projections' progress and lag per database (GET /api/analytics/projections).")
            .ResolveRest(async c => await Rest.Get(c, "/api/analytics/projections"));
    }
}

/// <summary>Mutations: each is one REST command, run as the caller through its own handler.</summary>
public sealed class MutationType : ObjectGraphType
{
    public MutationType()
    {
        Name = "Mutation";
        Command<TenantType>("requestTenant", "POST /api/tenants: the body of the REST request.", a => a.Argument<NonNullGraphType<JsonGraphType>>("input"),
            c => ("POST", "/api/tenants", c.GetArgument<object>("input")), TenantOf);
        TenantCommand("approveTenant", "approve", null);
        TenantCommand("provisionTenant", "provision", null);
        TenantCommand("suspendTenant", "suspend", c => new { reason = c.GetArgument<string>("reason") }, a => a.Argument<NonNullGraphType<StringGraphType>>("reason"));
        TenantCommand("reactivateTenant", "reactivate", null);
        Command<TenantType>("renameTenant", "PUT /api/tenants/{id}/name.",
            a => a.Argument<NonNullGraphType<IdGraphType>>("id").Argument<NonNullGraphType<StringGraphType>>("name"),
            c => ("PUT", $"/api/tenants/{c.GetArgument<Guid>("id")}/name", new { name = c.GetArgument<string>("name") }), TenantOf);
        Command<OrganisationType>("createOrganisation", "POST /api/tenants/{tenantId}/organisations.",
            a => a.Argument<NonNullGraphType<IdGraphType>>("tenantId").Argument<NonNullGraphType<IdGraphType>>("parentId")
                .Argument<NonNullGraphType<StringGraphType>>("name").Argument<StringGraphType>("kind").Argument<StringGraphType>("jurisdiction"),
            c => ("POST", $"/api/tenants/{c.GetArgument<Guid>("tenantId")}/organisations",
                new { parentId = c.GetArgument<Guid>("parentId"), name = c.GetArgument<string>("name"), kind = c.GetArgument<string?>("kind") ?? "unit",
                    jurisdiction = c.GetArgument<string?>("jurisdiction") }), OrganisationOf);
        Command<OrganisationType>("renameOrganisation", "PUT /api/tenants/{tenantId}/organisations/{id}/name.",
            a => a.Argument<NonNullGraphType<IdGraphType>>("tenantId").Argument<NonNullGraphType<IdGraphType>>("id").Argument<NonNullGraphType<StringGraphType>>("name"),
            c => ("PUT", $"/api/tenants/{c.GetArgument<Guid>("tenantId")}/organisations/{c.GetArgument<Guid>("id")}/name", new { name = c.GetArgument<string>("name") }),
            OrganisationOf);
        Command<OrganisationType>("moveOrganisation", "POST /api/tenants/{tenantId}/organisations/{id}/move.",
            a => a.Argument<NonNullGraphType<IdGraphType>>("tenantId").Argument<NonNullGraphType<IdGraphType>>("id").Argument<NonNullGraphType<IdGraphType>>("parentId"),
            c => ("POST", $"/api/tenants/{c.GetArgument<Guid>("tenantId")}/organisations/{c.GetArgument<Guid>("id")}/move", new { parentId = c.GetArgument<Guid>("parentId") }),
            OrganisationOf);
        Command<JsonGraphType>("closeOrganisation", "POST /api/tenants/{tenantId}/organisations/{id}/close.",
            a => a.Argument<NonNullGraphType<IdGraphType>>("tenantId").Argument<NonNullGraphType<IdGraphType>>("id").Argument<BooleanGraphType>("subtree")
                .Argument<StringGraphType>("reason"),
            c => ("POST", $"/api/tenants/{c.GetArgument<Guid>("tenantId")}/organisations/{c.GetArgument<Guid>("id")}/close",
                new { subtree = c.GetArgument<bool?>("subtree"), reason = c.GetArgument<string?>("reason") }), (_, body) => body);
        Command<JsonGraphType>("grantRole", "POST /api/tenants/{tenantId}/organisations/{organisationId}/grants.",
            a => a.Argument<NonNullGraphType<IdGraphType>>("tenantId").Argument<NonNullGraphType<IdGraphType>>("organisationId")
                .Argument<NonNullGraphType<StringGraphType>>("principal", "user:ID or group:ID").Argument<NonNullGraphType<StringGraphType>>("role"),
            c =>
            {
                var principal = c.GetArgument<string>("principal");
                var colon = principal.IndexOf(':');
                return ("POST", $"/api/tenants/{c.GetArgument<Guid>("tenantId")}/organisations/{c.GetArgument<Guid>("organisationId")}/grants",
                    new { principal = new { kind = colon > 0 ? principal[..colon] : principal, id = colon > 0 ? principal[(colon + 1)..] : "" }, role = c.GetArgument<string>("role") });
            }, (_, body) => body);
    }

    private static object TenantOf(IResolveFieldContext c, JsonElement body) => new Node(Guid.Parse(body.GetProperty("id").GetString()!), body);

    private static object OrganisationOf(IResolveFieldContext c, JsonElement body) => new Node(c.GetArgument<Guid>("tenantId"), body);

    private void TenantCommand(string name, string action, Func<IResolveFieldContext, object?>? body,
        Action<global::GraphQL.Builders.FieldBuilder<object?, object>>? arguments = null) =>
        Command<TenantType>(name, $"POST /api/tenants/{{id}}/{action}.", a =>
            {
                a.Argument<NonNullGraphType<IdGraphType>>("id");
                arguments?.Invoke(a);
            },
            c => ("POST", $"/api/tenants/{c.GetArgument<Guid>("id")}/{action}", body?.Invoke(c)), TenantOf);

    private void Command<TResult>(string name, string description, Action<global::GraphQL.Builders.FieldBuilder<object?, object>> arguments,
        Func<IResolveFieldContext, (string Method, string Path, object? Body)> request, Func<IResolveFieldContext, JsonElement, object> result)
        where TResult : IGraphType
    {
        var field = Field<TResult>(name).Description(description);
        arguments(field);
        field.ResolveRest(async c =>
        {
            var (method, path, body) = request(c);
            return result(c, await Rest.Call(c, method, path, body ?? new { }));
        });
    }
}

public sealed class TenantEventsSchema : Schema
{
    public TenantEventsSchema()
    {
        Query = new QueryType();
        Mutation = new MutationType();
    }
}
