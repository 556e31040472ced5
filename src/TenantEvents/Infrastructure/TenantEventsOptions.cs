namespace TenantEvents.Infrastructure;

/// <summary>The service's own settings (section "TenantEvents"; environment variables TenantEvents__Name).</summary>
public sealed class TenantEventsOptions
{
    public const string Section = "TenantEvents";

    /// <summary>Folder for local state: the development token key and, later, the local key service's root key.</summary>
    public string DataFolder { get; set; } = Path.Combine(Directory.GetCurrentDirectory(), ".data");

    /// <summary>PostgreSQL schema that holds the event store, documents and Wolverine's envelope tables.</summary>
    public string DatabaseSchema { get; set; } = "tenantevents";

    /// <summary>Accept development tokens (only ever honoured in the Development environment).</summary>
    public bool DevTokens { get; set; } = true;

    /// <summary>Shared secret of the provisioning webhook (Standard Webhooks form: "whsec_" + base64).</summary>
    public string? ProvisioningWebhookSecret { get; set; }

    /// <summary>How far a provisioning webhook's timestamp may be from our clock before it is refused as stale.</summary>
    public TimeSpan WebhookTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long an unwrapped data key stays in memory before the key service is asked again.</summary>
    public TimeSpan KeyCacheLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// A cached data key used after this long is first checked against the database: shredding (or erasing a person) on
    /// another instance is told to every instance at once (Keys/KeyRevocations.cs); this bounds how long an instance that
    /// missed the news can still open what the key sealed.
    /// </summary>
    public TimeSpan KeyRecheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>At most this many unwrapped data keys are kept in memory.</summary>
    public int KeyCacheSize { get; set; } = 10_000;

    /// <summary>Key service for tenants' KEKs: "local" (a root key in the data folder) or "azure-key-vault".</summary>
    public string KeyProvider { get; set; } = "local";

    /// <summary>The vault of the azure-key-vault provider, e.g. https://contoso-tenants.vault.azure.net/ (credentials: DefaultAzureCredential).</summary>
    public Uri? KeyVaultUrl { get; set; }

    /// <summary>
    /// Whether the databases compare share expiry with the service's clock (passed per transaction) instead of their
    /// own: only where the service's clock is moved on purpose (the tests). Applied by `migrate`, as the owner, so no
    /// session can choose it; otherwise a session could set the clock back and see shares that have expired.
    /// </summary>
    public bool DatabaseFollowsServiceClock { get; set; }

    /// <summary>Seal tenant event payloads (off only to measure what sealing costs: `make bench`).</summary>
    public bool Sealing { get; set; } = true;

    /// <summary>
    /// Residency zones by name (TenantEvents:Zones:{name}:Codes, :Database, :Host, :Port, :DedicatedPool). The zone
    /// "default" is the main database and holds every residency no other zone lists.
    /// </summary>
    public Dictionary<string, TenantEvents.Infrastructure.Databases.ZoneOptions> Zones { get; set; } = new(StringComparer.Ordinal);

    /// <summary>At most this many tenants' organisation graphs stay in memory (least recently used ones are reloaded when needed).</summary>
    public int AccessGraphCacheSize { get; set; } = 1000;

    /// <summary>Largest accepted page size on list endpoints.</summary>
    public int MaxPageSize { get; set; } = 200;

    /// <summary>
    /// The service's public base URL: the issuer of its access tokens and the base of its discovery document
    /// (/.well-known/openid-configuration). Set it to the address clients use.
    /// </summary>
    public string PublicUrl { get; set; } = "http://localhost:5080";

    /// <summary>Events wait at most about this long for their place in their tenant's audit log (and none when the log is read).</summary>
    public TimeSpan AuditLedgerInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Every tenant whose audit log grew gets a signed checkpoint at least this often (and on demand).</summary>
    public TimeSpan AuditCheckpointInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How often the service plans each tenant's last applied manifest again and reports drift (Manifests/ManifestDrift.cs):
    /// a durable schedule per tenant, started by apply.
    /// </summary>
    public TimeSpan ManifestDriftInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How often the billing job runs (Billing/BillingJobs.cs): it closes each billed tenant's months that ended at least
    /// <see cref="BillingCloseGrace"/> ago, and checks the budgets of the month under way.
    /// </summary>
    public TimeSpan BillingJobInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How often the compliance job looks for deadlines due (data-subject requests overdue, incident reminders, missed
    /// reports, key rotations overdue): the deadlines are rows in the database, so a restart loses none.
    /// </summary>
    public TimeSpan ComplianceJobInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How often a compliance round ticks every record and writes its deadline rows again from the sealed record.</summary>
    public TimeSpan ComplianceSweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The platform's own jurisdiction (ISO 3166-1 alpha-2 or 3166-2), whose rules set the deadlines of platform incidents
    /// (e.g. "DE": NIS2). Empty: platform incidents have no statutory deadlines.
    /// </summary>
    public string PlatformJurisdiction { get; set; } = "";

    /// <summary>How long after a month ends (UTC) it is closed: usage counted later is billed on the next invoice as late usage.</summary>
    public TimeSpan BillingCloseGrace { get; set; } = TimeSpan.FromHours(6);

    /// <summary>How many closed months back a close looks for late usage.</summary>
    public int BillingLateMonths { get; set; } = 3;

    /// <summary>The platform operator as the seller of tenants' invoices (EN 16931 seller: name, country, VAT id, Peppol endpoint).</summary>
    public Billing.Party BillingSeller { get; set; } = new("TenantEvents Platform Operator", "DE", "DE123456789", "DE123456789", "9930",
        "Platz der Republik 1", "Berlin", "11011", "Billing desk", "+49 30 000000", "billing@tenantevents.example", "DE89370400440532013000");

    /// <summary>The days a tenant has to pay the platform's invoice (the tenant's own terms apply to its organisations' invoices).</summary>
    public int BillingPaymentTermDays { get; set; } = 30;

    /// <summary>The start of the platform's invoice numbers (then the tenant's slug, the kind, the year and the number).</summary>
    public string BillingNumberPrefix { get; set; } = "TE";

    /// <summary>The most workers the AI job pool of an instance runs at once (Compute/ComputePool.cs).</summary>
    public int ComputeMaxWorkers { get; set; } = 8;

    /// <summary>A tenant is guaranteed one worker for every so many AI compute units of its monthly quota (rounded up).</summary>
    public long ComputeUnitsPerWorker { get; set; } = 25_000;

    /// <summary>How long a job holds a worker per unit (the work the pool stands in for).</summary>
    public TimeSpan ComputePerUnit { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>The longest a job runs before the scheduler may give its worker to a tenant owed one (how fast a lent guarantee comes back).</summary>
    public TimeSpan ComputeSlice { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The most jobs of a tenant waiting for a worker, and the most units one job may take.</summary>
    public int ComputeMaxQueuedPerTenant { get; set; } = 1_000;

    public long ComputeMaxJobUnits { get; set; } = 1_000_000;

    /// <summary>How long a job's units stay reserved while it waits for a worker; a job still waiting then fails, its units given back.</summary>
    public TimeSpan ComputeJobMaxWait { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often audit entries past their tenant's retention window are removed from the audit query model.</summary>
    public TimeSpan AuditRetentionInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The name of the audit log signing key and the prefix of every tenant log's origin (C2SP checkpoints):
    /// by default the host of <see cref="PublicUrl"/>.
    /// </summary>
    public string? AuditLogName { get; set; }

    /// <summary>Lifetime of service-account access tokens (short, so a disabled account's tokens also die soon on their own).</summary>
    public TimeSpan ServiceTokenLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A signing key signs for this long; then a new one is made and the old one stays published until its tokens expire.</summary>
    public TimeSpan SigningKeyLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How far token times (exp, nbf, iat) may be off our clock. Bounded: at most 5 minutes.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A tenant identity provider's discovery document and keys are fetched again after this long.</summary>
    public TimeSpan FederationKeyCacheLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>At most one key refresh per identity provider in this interval when tokens name unknown key ids.</summary>
    public TimeSpan FederationKeyRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Allow identity providers on plain http and on loopback or private addresses (only for local development and tests;
    /// never in production: it lifts the outbound address check for discovery and key fetches).
    /// </summary>
    public bool AllowInsecureIdentityProviders { get; set; }

    /// <summary>
    /// The web console's files (console/dist, built by `make console`); by default the console folder beside the service's
    /// dll, where the build copies them. Without them, /console answers 503 saying how to build it.
    /// </summary>
    public string? ConsoleFolder { get; set; }

    /// <summary>
    /// The platform staff's OpenID provider (optional): tokens it issues for <see cref="PlatformStaffProvider.Audience"/>
    /// carry platform roles by their groups (<see cref="PlatformStaffProvider.Roles"/>). The console signs staff in there
    /// with PKCE (its client id is the audience). Without it, platform roles come only from development tokens.
    /// </summary>
    public PlatformStaffProvider PlatformIdentityProvider { get; set; } = new();

    /// <summary>
    /// The zone under which tenants may take a subdomain without proving anything (the platform holds it: point a wildcard
    /// DNS record and certificate for *.ZONE at the service), e.g. tenants.events.example.gov. Unset: no subdomains.
    /// </summary>
    public string? TenantDomainZone { get; set; }

    /// <summary>Labels of the zone no tenant may take, besides the built-in ones (Domains/DomainNames.ReservedLabels).</summary>
    public List<string> ReservedSubdomains { get; set; } = [];

    /// <summary>Most names (pending claims included) one tenant may hold.</summary>
    public int MaxDomainsPerTenant { get; set; } = 20;

    /// <summary>
    /// The DNS server (an IP address, optionally :port) asked for a claimed domain's TXT record
    /// (_tenantevents-challenge.DOMAIN). Unset: domains are verified over HTTP only.
    /// </summary>
    public string? DomainVerificationResolver { get; set; }

    /// <summary>The port a claimed domain's HTTP challenge is fetched from (80, as ACME's http-01; tests use their own server's).</summary>
    public int DomainVerificationHttpPort { get; set; } = 80;

    /// <summary>
    /// Let domain verification fetch from loopback and private addresses (only for local development and tests: it lifts
    /// the outbound address check for challenge fetches).
    /// </summary>
    public bool AllowPrivateDomainVerification { get; set; }

    /// <summary>The resolver of <see cref="DomainVerificationResolver"/>, parsed (null: none).</summary>
    public System.Net.IPEndPoint? DomainResolverEndPoint => DomainVerificationResolver is not { Length: > 0 } text ? null
        : System.Net.IPEndPoint.TryParse(text.Trim(), out var endPoint) ? (endPoint.Port == 0 ? new System.Net.IPEndPoint(endPoint.Address, 53) : endPoint)
        : throw new InvalidOperationException($"TenantEvents:DomainVerificationResolver: '{text}' is not an IP address (with an optional :port).");

    /// <summary>How often each instance reads credential revocations made by the others.</summary>
    public TimeSpan RevocationPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Meter tenants' API calls and apply fair share (off only to measure what metering costs: `make bench BENCH_ARGS=--quotas`).</summary>
    public bool QuotaMetering { get; set; } = true;

    /// <summary>How often each instance writes the API calls it counted and gives back the quota it holds unused.</summary>
    public TimeSpan QuotaFlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>A tenant's limits and allocations are read again after this long (changes reach every instance within it).</summary>
    public TimeSpan QuotaPolicyRefresh { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most API calls an instance takes from a quota at once (fewer near the limit, down to one).</summary>
    public int QuotaMaxLease { get; set; } = 1000;

    /// <summary>Per-tenant fair share on each instance: requests per second (0 turns fair share off).</summary>
    public int FairShareRequestsPerSecond { get; set; } = 200;

    /// <summary>Per-tenant fair share: requests a tenant may make at once after a quiet spell.</summary>
    public int FairShareBurst { get; set; } = 400;

    /// <summary>How long an AI compute reservation holds its units when the request names no lifetime (at most an hour).</summary>
    public TimeSpan AiReservationLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often each instance writes the activity it saw (users active per day and feature area) for analytics.</summary>
    public TimeSpan AnalyticsFlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The analytics projector runs on this instance (off only in tools that host the service, e.g. a benchmark timing it).</summary>
    public bool AnalyticsProjection { get; set; } = true;

    /// <summary>How often the analytics projections look for new events (each round reads all that is committed).</summary>
    public TimeSpan AnalyticsProjectionInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Sequence numbers the analytics projector reads per batch (one transaction each).</summary>
    public int AnalyticsBatchSize { get; set; } = 50_000;

    /// <summary>How long a skipped sequence number (its transaction not yet committed) is looked for again before it is taken as rolled back.</summary>
    public TimeSpan AnalyticsHoleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Event delivery on this instance (fan-out to webhooks, RabbitMQ, the event stream); off only in tools that host the service.</summary>
    public bool EventDelivery { get; set; } = true;

    /// <summary>Webhooks may point at plain http and at loopback or private addresses (development and tests only: it lifts the outbound address check for deliveries).</summary>
    public bool AllowPrivateWebhooks { get; set; }

    /// <summary>Event streams (SSE) open at once per tenant on one instance; one more is refused with 429.</summary>
    public int EventStreamsPerTenant { get; set; } = 16;

    /// <summary>Event streams (SSE) open at once on one instance, across tenants.</summary>
    public int EventStreamsPerInstance { get; set; } = 1000;

    /// <summary>Attempts of one webhook delivery before it is dead-lettered (1 to 20).</summary>
    public int WebhookMaxAttempts { get; set; } = 8;

    /// <summary>How long one webhook attempt may take before it counts as failed.</summary>
    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Webhook requests in flight at once per instance (each stream's deliveries stay one at a time, in order).</summary>
    public int WebhookConcurrency { get; set; } = 64;

    /// <summary>How often delivery looks for work it was not told about (retries due, other instances' events).</summary>
    public TimeSpan DeliveryPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A RabbitMQ broker (amqp://user:password@host:port/vhost) that every event is also published to; none by default.</summary>
    public string? RabbitMqUri { get; set; }

    // ---- Bounds on what one tenant or partner can grow (README: "Limits"). Each is read when a request is decided, so
    // a change reaches the next request; each refusal is a 4xx problem naming the limit, and changes nothing.

    /// <summary>Entries (comments and contributions, the owner's and partners') one case file may hold.</summary>
    public int MaxCaseFileEntries { get; set; } = 1_000;

    /// <summary>Organisations one tenant may hold (open and closed: a closed one stays in the tree and its history).</summary>
    public int MaxOrganisationsPerTenant { get; set; } = 250_000;

    /// <summary>Deepest an organisation may sit below the root (the root is depth 0).</summary>
    public int MaxOrganisationDepth { get; set; } = 1_100;

    /// <summary>Organisation events one time-travel read (?asOf= / ?asOfVersion=) may replay; a read that needs more is refused with 422.</summary>
    public int MaxTimeTravelEvents { get; set; } = 200_000;

    /// <summary>SCIM users one tenant's directory may hold (the directory is held in memory).</summary>
    public int MaxScimUsers { get; set; } = 100_000;

    /// <summary>SCIM groups one tenant's directory may hold.</summary>
    public int MaxScimGroups { get; set; } = 100_000;

    /// <summary>Data-subject requests one tenant may have open (received or verified) at once.</summary>
    public int MaxOpenDataSubjectRequests { get; set; } = 10_000;

    /// <summary>Incidents one tenant may have open at once.</summary>
    public int MaxOpenIncidents { get; set; } = 1_000;

    /// <summary>Webhook subscriptions one tenant may have.</summary>
    public int MaxWebhooksPerTenant { get; set; } = 25;

    /// <summary>
    /// Deliveries one subscription may have waiting (pending or retrying). Beyond it, new deliveries are dead-lettered
    /// at once with a reason that says so; the waiting ones keep their place, and dead letters can be sent again.
    /// </summary>
    public int MaxPendingDeliveries { get; set; } = 10_000;

    /// <summary>
    /// Requests without a verified credential (anonymous routes: token endpoint, discovery, JWKS, health, the provisioning
    /// webhook; and every request whose credential fails) one client address may make per <see cref="AnonymousRateWindow"/>
    /// (a token bucket: this many at once, refilled evenly over the window); 0 turns the limit off.
    /// </summary>
    public int AnonymousRequestsPerWindow { get; set; } = 300;

    /// <summary>The window of <see cref="AnonymousRequestsPerWindow"/>.</summary>
    public TimeSpan AnonymousRateWindow { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The port of /metrics (Prometheus): the service must also listen on it (ASPNETCORE_URLS, e.g.
    /// http://+:8080;http://+:9090). Only the metrics and the probes answer there, and the metrics answer nowhere else.
    /// Unset: no /metrics (OTLP export still works).
    /// </summary>
    public int? ManagementPort { get; set; }

    /// <summary>
    /// The proxies in front of the service (addresses or CIDR networks, e.g. the ingress controller's pod network): from
    /// them, and only them, the client's address is taken from X-Forwarded-For (the last hop they added), so that limits
    /// per client address (<see cref="AnonymousRequestsPerWindow"/>) apply per client, not to the proxy. Empty: the
    /// connection's own address.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary><see cref="TrustedProxies"/> as networks (an address alone is a network of one).</summary>
    public IReadOnlyList<System.Net.IPNetwork> TrustedNetworks => TrustedProxies
        .Select(proxy => System.Net.IPNetwork.TryParse(proxy.Contains('/') ? proxy : proxy + (proxy.Contains(':') ? "/128" : "/32"), out var network)
            ? network
            : throw new InvalidOperationException($"TenantEvents:TrustedProxies: '{proxy}' is not an address or a CIDR network."))
        .ToList();

    /// <summary>
    /// A folder of TLS certificates (NAME.crt and NAME.key, PEM; default.crt for names none serves): HTTPS endpoints
    /// (ASPNETCORE_URLS https://...) choose one per connection by the name the client asks for (SNI), and see renewed or
    /// new ones without a restart (Operations/Certificates.cs). Unset: HTTPS as Kestrel configures it.
    /// </summary>
    public string? CertificatesFolder { get; set; }

    /// <summary>How many tenants keep their own label in the per-tenant metrics on an instance; later ones count as "other".</summary>
    public int MetricsTenantLabels { get; set; } = 100;

    /// <summary>How often the database-backed gauges (projection lag, webhook backlog) are read.</summary>
    public TimeSpan MetricsRefreshInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>What one GraphQL request may cost: body, tokens, aliases, fragments, depth, cost, REST calls, time.</summary>
    public TenantEvents.GraphQL.GraphQLLimits GraphQL { get; set; } = new();

    public static TenantEventsOptions From(IConfiguration configuration)
    {
        var options = new TenantEventsOptions();
        configuration.GetSection(Section).Bind(options);
        options.PlatformIdentityProvider.Check(options.AllowInsecureIdentityProviders);
        options.DataFolder = Path.GetFullPath(options.DataFolder);
        if (options.ClockSkew < TimeSpan.Zero || options.ClockSkew > TimeSpan.FromMinutes(5))
            throw new InvalidOperationException("TenantEvents:ClockSkew must be between 0 and 5 minutes.");
        if (options.ServiceTokenLifetime <= TimeSpan.Zero || options.ServiceTokenLifetime > TimeSpan.FromHours(1))
            throw new InvalidOperationException("TenantEvents:ServiceTokenLifetime must be more than 0 and at most 1 hour.");
        options.PublicUrl = options.PublicUrl.TrimEnd('/');
        if (options.WebhookMaxAttempts is < 1 or > 20) throw new InvalidOperationException("TenantEvents:WebhookMaxAttempts must be between 1 and 20.");
        if (options.AnalyticsBatchSize is < 100 or > 1_000_000) throw new InvalidOperationException("TenantEvents:AnalyticsBatchSize must be between 100 and 1,000,000.");
        if (options.AnalyticsProjectionInterval <= TimeSpan.Zero) throw new InvalidOperationException("TenantEvents:AnalyticsProjectionInterval must be more than 0.");
        // The one bound on how often anonymous tokens naming unknown key ids can make us fetch a provider's keys.
        if (options.FederationKeyRefreshInterval < TimeSpan.FromSeconds(1))
            throw new InvalidOperationException("TenantEvents:FederationKeyRefreshInterval must be at least 1 second.");
        if (options.WebhookConcurrency is < 1 or > 1000) throw new InvalidOperationException("TenantEvents:WebhookConcurrency must be between 1 and 1000.");
        if (options.MaxCaseFileEntries < 1 || options.MaxOrganisationsPerTenant < 1 || options.MaxOrganisationDepth < 1 || options.MaxTimeTravelEvents < 1
            || options.MaxScimUsers < 1 || options.MaxScimGroups < 1 || options.MaxWebhooksPerTenant < 1 || options.MaxPendingDeliveries < 1)
            throw new InvalidOperationException("TenantEvents:Max* limits must be at least 1.");
        if (options.AnonymousRequestsPerWindow < 0 || options.AnonymousRateWindow <= TimeSpan.Zero)
            throw new InvalidOperationException("TenantEvents:AnonymousRequestsPerWindow must be 0 (off) or more, AnonymousRateWindow more than 0.");
        foreach (var network in options.TrustedNetworks)
            // Trusting (nearly) everyone would let any client name its own address, and escape every limit per address.
            if (network.PrefixLength < (network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 32 : 8))
                throw new InvalidOperationException($"TenantEvents:TrustedProxies: '{network}' is too wide to trust; name the proxies' own networks.");
        if (options.ManagementPort is < 1 or > 65535) throw new InvalidOperationException("TenantEvents:ManagementPort must be a port number (1-65535).");
        if (options.MetricsTenantLabels < 0 || options.MetricsRefreshInterval <= TimeSpan.Zero)
            throw new InvalidOperationException("TenantEvents:MetricsTenantLabels must be 0 or more, MetricsRefreshInterval more than 0.");
        _ = options.DomainResolverEndPoint; // a resolver that is not an address stops the start, not the first verification
        if (options.DomainVerificationHttpPort is < 1 or > 65535) throw new InvalidOperationException("TenantEvents:DomainVerificationHttpPort must be a port number (1-65535).");
        if (options.MaxDomainsPerTenant < 0) throw new InvalidOperationException("TenantEvents:MaxDomainsPerTenant must be 0 or more.");
        if (options.TenantDomainZone is { Length: > 0 } zone && Domains.DomainNames.Normalise("TenantDomainZone", zone).Error is { } bad)
            throw new InvalidOperationException($"TenantEvents:TenantDomainZone {bad.Detail}");
        options.GraphQL.Validate();
        return options;
    }
}

/// <summary>
/// The platform staff's OpenID provider: its issuer and the audience its tokens name (the console's client id there);
/// which group confers which platform role (a value may name several roles, comma-separated). A token whose groups map to
/// no role is refused. Example: TenantEvents__PlatformIdentityProvider__Roles__platform-operators=platform-admin.
/// </summary>
public sealed class PlatformStaffProvider
{
    public string Issuer { get; set; } = "";
    public string Audience { get; set; } = "";
    /// <summary>Accepted algorithms; empty (the default) means RS256, PS256 and ES256. (The configuration binder adds to a
    /// list it finds, so the default is filled in after binding: setting ES256 alone then means ES256 alone.)</summary>
    public List<string> Algorithms { get; set; } = [];
    public string GroupsClaim { get; set; } = "groups";
    public string NameClaim { get; set; } = "name";
    public Dictionary<string, string> Roles { get; set; } = new(StringComparer.Ordinal);

    public bool Configured => Issuer.Length > 0;

    /// <summary>The platform roles a token's groups confer (none: the token is refused).</summary>
    public IReadOnlyList<string> RolesOf(IEnumerable<string> groups) =>
        groups.Where(Roles.ContainsKey).SelectMany(g => Roles[g].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.Ordinal).ToList();

    public void Check(bool allowInsecure)
    {
        if (Algorithms.Count == 0) Algorithms = ["RS256", "PS256", "ES256"];
        if (!Configured) return;
        if (!Uri.TryCreate(Issuer, UriKind.Absolute, out var uri) || !(uri.Scheme == "https" || (allowInsecure && uri.Scheme == "http")))
            throw new InvalidOperationException("TenantEvents:PlatformIdentityProvider:Issuer must be an https URL.");
        if (string.IsNullOrWhiteSpace(Audience)) throw new InvalidOperationException("TenantEvents:PlatformIdentityProvider:Audience is required.");
        if (Roles.Count == 0) throw new InvalidOperationException("TenantEvents:PlatformIdentityProvider:Roles must map at least one group to a platform role.");
        var wrong = Roles.Values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Where(r => !TenantEvents.Infrastructure.Security.Roles.PlatformWide.Contains(r)).ToList();
        if (wrong.Count > 0)
            throw new InvalidOperationException($"TenantEvents:PlatformIdentityProvider:Roles: {string.Join(", ", wrong)} not a platform role ({string.Join(", ", TenantEvents.Infrastructure.Security.Roles.PlatformWide)}).");
        if (Algorithms.Count == 0 || Algorithms.Any(a => a is not ("RS256" or "RS384" or "RS512" or "PS256" or "PS384" or "PS512" or "ES256" or "ES384" or "ES512")))
            throw new InvalidOperationException("TenantEvents:PlatformIdentityProvider:Algorithms: asymmetric algorithms only (RS, PS, ES).");
    }
}
