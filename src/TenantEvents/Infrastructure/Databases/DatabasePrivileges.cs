namespace TenantEvents.Infrastructure.Databases;

/// <summary>What a role may do to a table (the four DML privileges; nothing else is ever granted to a service role).</summary>
[Flags]
public enum TableAccess
{
    None = 0,
    Select = 1,
    Insert = 2,
    Update = 4,
    Delete = 8,
    Read = Select,
    ReadWrite = Select | Insert | Update | Delete,
}

/// <summary>One table's privileges: for the service's role (tenantevents_app) and the platform role (tenantevents_platform).</summary>
/// <param name="Lifetime">Whether the tests empty the table between tests (<see cref="TableLifetime"/>).</param>
public sealed record TableGrant(string Table, TableAccess App, TableAccess Platform, TableLifetime Lifetime = TableLifetime.Kept);

/// <summary>
/// What the test reset does with a table (derived from here, so a new table is placed by the one who declares it). Tests
/// make a fresh tenant each, so per-tenant state may stay; what a test reads across tenants (lists, counts, the ledger,
/// the estate, background work's queues) is emptied.
/// </summary>
public enum TableLifetime
{
    /// <summary>Kept: configuration (databases, signing keys, the clock switch, the schema history) or per-tenant state.</summary>
    Kept,
    /// <summary>Emptied before each HTTP test, in every database.</summary>
    Emptied,
}

/// <summary>
/// One function: who may execute it (never PUBLIC), and whether it runs as its owner (security definer: then with a fixed
/// search_path, checked by `migrate`).
/// </summary>
public sealed record FunctionGrant(string Name, bool App, bool Platform, bool Definer);

/// <summary>
/// THE declaration of what each role may do in the database, per table, sequence and function, for every database of the
/// platform (main, zone, dedicated; a table only the main database has is declared here too and simply absent elsewhere).
/// `migrate` applies it (<see cref="DatabaseMigration.SecureAsync"/>): every privilege of the service roles and of PUBLIC
/// on the schema's objects is revoked and exactly what is declared here is granted, so an undeclared table or function is
/// closed to both roles; a test reads the live databases back against it (DatabasePrivilegeTests).
/// The trust model (README, Security): a leaked service-role password is bound by row-level security and by sealing, but
/// it must not be able to mint trust for the whole platform: signing keys, identity-provider issuer bindings, database
/// registry and placements, audit checkpoints and pending ledger entries are written by the platform role or by
/// security-definer functions that decide what is written, never by the service role directly.
/// </summary>
public static class DatabasePrivileges
{
    private const TableAccess R = TableAccess.Read, RW = TableAccess.ReadWrite;
    private const TableAccess RI = TableAccess.Select | TableAccess.Insert;
    private const TableLifetime Emptied = TableLifetime.Emptied;

    public static readonly IReadOnlyList<TableGrant> Tables =
    [
        // The platform directory (main database only). The registry of databases is written by `migrate` (the owner)
        // alone: a row names a host the platform role's password is sent to. Placements are made by place_tenant.
        new("tenant_databases", R, R),
        new("tenant_placements", R, R, Emptied),
        new("tenant_slugs", RW, R, Emptied),
        new("idempotency_records", RW, R, Emptied),
        // Identity (main database only): the issuer index and the platform's token signing keys are the platform's.
        new("oauth_clients", RW, R, Emptied),
        new("credential_revocations", RW, R, Emptied),
        new("identity_issuers", R, R | TableAccess.Insert | TableAccess.Update | TableAccess.Delete, Emptied),
        // Which tenant a verified name serves (Domains/DomainIndex.cs): the platform's to write, like the issuer index.
        new("tenant_domains", R, R | TableAccess.Insert | TableAccess.Delete, Emptied),
        new("platform_signing_keys", R, R | TableAccess.Insert | TableAccess.Update),
        new("audit_log_keys", R, R | TableAccess.Insert | TableAccess.Update),
        // What `migrate` applied where (SchemaRegistry): written by the owner alone.
        new("schema_migrations", R, R),

        // Keys, organisations, access, SCIM (DatabaseMigration).
        new("tenant_data_keys", RW, R, Emptied),
        new("subject_data_keys", RW, R, Emptied),
        new("org_nodes", RW, R),
        new("org_grants", RW, R),
        new("org_policies", RW, R),
        new("org_members", RW, R),
        new("tenant_roles", RW, R),
        new("access_versions", RW, R),
        // Written only by the access_note_version trigger (as the owner): it never goes down (Organisations/AccessSeal.cs).
        new("access_high_water", R, R),
        // Tenant moves (Tenants/Moves/TenantMoveSchema.cs): written by the mover (the owner) alone.
        new("tenant_moved_away", R, R),
        new("moved_event_seqs", R, R),
        new("scim_resources", RW, R),
        new("scim_versions", RW, R),

        // The ledger (Audit/AuditSchema.cs). Events and the log are append-only (and the log is written by audit_flush);
        // pending entries are noted by the trigger (as the owner); checkpoints are signed by the platform role.
        new("mt_events", RI, R, Emptied),
        new("audit_log", R, R, Emptied),
        new("audit_pending", R, R, Emptied),
        new("audit_checkpoints", R, RI, Emptied),
        new("audit_positions", RW, R, Emptied),
        new("audit_entries", RW, R, Emptied),
        new("audit_stream_states", RW, R, Emptied),

        // Marten's event store and documents, Wolverine's envelopes and nodes.
        new("mt_streams", RW, R, Emptied),
        new("mt_event_progression", RW, R, Emptied),
        new("mt_event_projection_floors", RW, R, Emptied),
        new("mt_high_water_skips", RW, R, Emptied),
        new("mt_doc_tenantrecord", RW, R, Emptied),
        new("mt_doc_serviceaccountrecord", RW, R, Emptied),
        new("mt_doc_identityproviderrecord", RW, R, Emptied),
        new("mt_doc_tenantdomainsrecord", RW, R, Emptied),
        new("mt_doc_tenantmanifestrecord", RW, R, Emptied),
        new("mt_doc_deadletterevent", RW, R, Emptied),
        new("mt_doc_envelope", RW, R, Emptied),
        new("wolverine_incoming_envelopes", RW, R, Emptied),
        new("wolverine_outgoing_envelopes", RW, R, Emptied),
        new("wolverine_dead_letters", RW, R, Emptied),
        new("wolverine_dead_letter_history", RW, R),
        new("wolverine_nodes", RW, R),
        new("wolverine_node_records", RW, R),
        new("wolverine_node_assignments", RW, R),
        new("wolverine_control_queue", RW, R),
        new("wolverine_agent_restrictions", RW, R),

        // Quotas (Quotas/QuotaSchema.cs); usage_daily's monthly partitions take its grant.
        new("org_quota_allocations", RW, R, Emptied),
        new("quota_usage", RW, R, Emptied),
        new("usage_daily", RW, R, Emptied),
        new("quota_alerts", RW, R, Emptied),
        new("ai_reservations", RW, R, Emptied),
        new("quota_limits_history", RW, R, Emptied),

        // Billing (Billing/BillingSchema.cs): the month-close job finds the accounts due with the platform role.
        new("billing_accounts", RW, R, Emptied),
        new("billing_documents", RW, R, Emptied),
        new("billing_series", RW, R, Emptied),
        new("billed_usage", RW, R, Emptied),
        new("budget_refusals", RW, R, Emptied),
        new("allocation_history", RW, R, Emptied),

        // Compliance (Compliance/ComplianceSchema.cs): the compliance job finds the deadlines due with the platform role. The
        // platform's incidents (main database): their events are appended, never changed.
        new("compliance_records", RW, R, Emptied),
        new("compliance_deadlines", RW, R, Emptied),
        new("platform_incidents", RW, R, Emptied),
        new("platform_incident_events", RI, R, Emptied),
        new("platform_deadlines", RW, R, Emptied),

        // Case files and sharing (Sharing/SharingSchema.cs); the clock switch is the owner's.
        new("case_files", RW, R, Emptied),
        new("case_shares", RW, R, Emptied),
        new("sharing_agreements", RW, R, Emptied),
        new("collaborations", RW, R, Emptied),
        new("collaboration_members", RW, R, Emptied),
        new("sharing_clock", R, R),

        // Analytics (Analytics/AnalyticsSchema.cs).
        new("analytics_activity", RW, R, Emptied),
        new("analytics_tenants", RW, R, Emptied),
        new("analytics_event_days", RW, R, Emptied),
        new("analytics_record_kinds", RW, R, Emptied),
        new("analytics_progress", RW, R),
        new("analytics_holes", RW, R, Emptied),

        // Event delivery (Delivery/DeliverySchema.cs).
        new("webhook_subscriptions", RW, R, Emptied),
        new("webhook_positions", RW, R, Emptied),
        new("broker_positions", RW, R, Emptied),
        new("webhook_deliveries", RW, R, Emptied),
        new("webhook_attempts", RW, R, Emptied),
    ];

    /// <summary>Sequences the service's role draws from (usage and select); the platform role draws from none.</summary>
    public static readonly IReadOnlyList<string> Sequences = ["mt_events_sequence", "wolverine_node_records_id_seq", "wolverine_nodes_node_number_seq"];

    public static readonly IReadOnlyList<FunctionGrant> Functions =
    [
        // Owner's work on the service's behalf, each deciding itself what it writes.
        new("place_tenant", App: true, Platform: false, Definer: true),
        new("audit_flush", App: true, Platform: false, Definer: true),
        new("audit_append", App: false, Platform: false, Definer: true), // trigger: fires without EXECUTE
        new("access_note_version", App: false, Platform: false, Definer: true), // trigger
        new("webhook_start_positions", App: true, Platform: false, Definer: true),
        new("broker_start_positions", App: true, Platform: false, Definer: true),
        new("analytics_apply", App: true, Platform: false, Definer: true),
        new("analytics_reset", App: true, Platform: false, Definer: true),
        new("collaboration_member", App: true, Platform: false, Definer: true),
        new("search_hits", App: true, Platform: false, Definer: true),
        new("search_matches", App: true, Platform: false, Definer: true),
        // Invoker's rights: only what the caller could do anyway.
        new("share_admits", App: true, Platform: false, Definer: false),
        new("sharing_now", App: true, Platform: false, Definer: false),
        new("audit_field", App: true, Platform: false, Definer: false),
        new("audit_leaf_data", App: true, Platform: false, Definer: false),
        new("audit_refuse_change", App: false, Platform: false, Definer: false), // trigger
        new("events_notify", App: false, Platform: false, Definer: false), // trigger
        new("events_refuse_moved", App: false, Platform: false, Definer: true), // trigger: reads tenant_moved_away whatever the appender may read
        new("refuse_moved_rows", App: false, Platform: false, Definer: true), // trigger, likewise, on every other guarded tenant table
        // Marten's own.
        .. new[]
        {
            "mt_quick_append_events", "mt_archive_stream", "mt_mark_event_progression", "mt_mark_progression_with_skip",
            "mt_grams_array", "mt_grams_query", "mt_grams_vector", "mt_safe_unaccent",
            "mt_immutable_date", "mt_immutable_time", "mt_immutable_timestamp", "mt_immutable_timestamptz",
            "mt_jsonb_append", "mt_jsonb_append_key_value", "mt_jsonb_copy", "mt_jsonb_duplicate", "mt_jsonb_fix_null_parent",
            "mt_jsonb_increment", "mt_jsonb_insert", "mt_jsonb_move", "mt_jsonb_patch", "mt_jsonb_path_to_array", "mt_jsonb_remove",
            "mt_jsonb_remove_key",
        }.Select(name => new FunctionGrant(name, App: true, Platform: false, Definer: false)),
    ];

    private static readonly Dictionary<string, TableGrant> ByTable = Tables.ToDictionary(t => t.Table, StringComparer.Ordinal);
    private static readonly Dictionary<string, FunctionGrant> ByFunction = Functions.ToDictionary(f => f.Name, StringComparer.Ordinal);

    /// <summary>The grant of a table (a partition takes its parent's: pass the parent), or null when it is not declared.</summary>
    public static TableGrant? Table(string table) => ByTable.GetValueOrDefault(table);

    public static FunctionGrant? Function(string name) => ByFunction.GetValueOrDefault(name);

    /// <summary>The privilege names of an access, as GRANT and information_schema spell them.</summary>
    public static IReadOnlyList<string> Names(TableAccess access) =>
        new[] { (TableAccess.Select, "SELECT"), (TableAccess.Insert, "INSERT"), (TableAccess.Update, "UPDATE"), (TableAccess.Delete, "DELETE") }
            .Where(p => access.HasFlag(p.Item1)).Select(p => p.Item2).ToList();
}
