using Wolverine.ErrorHandling;
using TenantEvents.Infrastructure.Logging;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.Events;
using JasperFx.Events.Projections;
using JasperFx.MultiTenancy;
using Marten;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Weasel.Core;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;
using TenantEvents.Infrastructure.Databases;
using TenantEvents.Infrastructure.Projections;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Keys;
using TenantEvents.Operations;
using TenantEvents.Tenants;
using TenantEvents.Tenants.Templates;

namespace TenantEvents.Infrastructure;

public static class Hosting
{
    /// <summary>The service's own role (tenantevents_app): owns nothing, bound by row-level security.</summary>
    public const string ConnectionStringName = "TenantEvents";

    /// <summary>The schema owner (tenantevents_owner), used only by `migrate`.</summary>
    public const string OwnerConnectionStringName = "TenantEventsOwner";

    /// <summary>Cross-tenant reads (tenantevents_platform): platform-administrator listings.</summary>
    public const string PlatformConnectionStringName = "TenantEventsPlatform";

    /// <summary>The per-connection setting that row-level security compares every row's tenant_id with.</summary>
    public const string TenantSetting = "app.tenant_id";

    public static WebApplicationBuilder AddTenantEvents(this WebApplicationBuilder builder) => builder.AddTenantEvents(migrating: false);

    /// <summary>Where secrets are read from files, one per setting (a Kubernetes secret mounted as a volume), unless TENANTEVENTS_SECRETS names another folder.</summary>
    public const string DefaultSecretsFolder = "/run/secrets/tenantevents";

    /// <summary>
    /// The host builder of every command (serve, migrate): configuration from appsettings, then the environment, then
    /// secret files. A file's name is the setting's (ConnectionStrings__TenantEvents), its content the value: secrets
    /// need not sit in the environment, where every process of the user and every crash report can read them.
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var folder = Environment.GetEnvironmentVariable("TENANTEVENTS_SECRETS") is { Length: > 0 } named ? named : DefaultSecretsFolder;
        builder.Configuration.AddKeyPerFile(folder, optional: true);
        return builder;
    }

    /// <param name="migrating">
    /// Build the host for `migrate`: connect as the schema owner and create or update every table. Otherwise connect as
    /// the service's role and change no schema (it could not: it owns nothing).
    /// </param>
    public static WebApplicationBuilder AddTenantEvents(this WebApplicationBuilder builder, bool migrating)
    {
        var options = TenantEventsOptions.From(builder.Configuration);
        // The public address is stated in tokens, discovery documents, CloudEvents and checkpoints: a default would be a
        // wrong address given to every client, so outside Development it must be configured.
        if (!migrating && !builder.Environment.IsDevelopment() && string.IsNullOrWhiteSpace(builder.Configuration[$"{TenantEventsOptions.Section}:PublicUrl"]))
            throw new InvalidOperationException(
                "No public address: set TenantEvents:PublicUrl (environment TenantEvents__PublicUrl), the URL clients use, e.g. https://events.example.gov.");
        // TLS per name asked for (SNI), from a folder of certificates.
        if (!migrating) CertificateStore.UseFor(builder, options);
        var name = migrating ? OwnerConnectionStringName : ConnectionStringName;
        var connectionString = builder.Configuration.GetConnectionString(name);
        if (string.IsNullOrWhiteSpace(connectionString))
            throw new InvalidOperationException(
                $"No database: set ConnectionStrings:{name} (environment ConnectionStrings__{name}); `make run` does it for you.");
        var platformConnectionString = builder.Configuration.GetConnectionString(PlatformConnectionStringName);
        if (!migrating && string.IsNullOrWhiteSpace(platformConnectionString))
            throw new InvalidOperationException(
                $"No platform connection: set ConnectionStrings:{PlatformConnectionStringName} (the tenantevents_platform role).");

        var services = builder.Services;
        builder.AddClientInputLogging();
        services.AddSingleton(options);
        services.AddSingleton(new Clock(TimeProvider.System));
        services.AddSingleton(TemplateCatalog.LoadEmbedded());
        services.AddSingleton<TenantStreams>();
        services.AddSingleton<TenantEvents.Organisations.OrganisationStore>();
        services.AddSingleton<TenantEvents.Scim.ScimStore>();
        services.AddSingleton<TenantEvents.Audit.AuditLog>();
        services.AddSingleton<TenantEvents.Audit.AuditProjector>();
        services.AddSingleton<TenantEvents.Audit.ContentDisclosure>();
        services.AddSingleton<TenantEvents.Audit.CrossTenantAccess>();
        services.AddSingleton<TenantEvents.Audit.AuditJobs>();
        services.AddSingleton<TenantEvents.Quotas.QuotaUsageStore>();
        services.AddSingleton<TenantEvents.Quotas.QuotaPolicies>();
        services.AddSingleton<TenantEvents.Quotas.QuotaAlerts>();
        services.AddSingleton<TenantEvents.Quotas.AiComputeReservations>();
        services.AddSingleton<TenantEvents.Quotas.QuotaLedger>();
        services.AddSingleton<TenantEvents.Quotas.FairShare>();
        services.AddSingleton<TenantEvents.Quotas.ApiMetering>();
        services.AddSingleton<TenantEvents.Sharing.SharingStore>();
        services.AddSingleton<TenantEvents.Analytics.ActivityRecorder>();
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Analytics.ActivityRecorder>());
        // The asynchronous projections (Infrastructure/Projections): one daemon runs those enabled.
        services.AddAsyncProjection<TenantEvents.Analytics.AnalyticsProjector>();
        services.AddAsyncProjection<TenantEvents.Audit.AuditLedgerProjection>();
        services.AddAsyncProjection<TenantEvents.Audit.AuditEntriesProjection>();
        services.AddAsyncProjection<TenantEvents.Delivery.WebhookFanOut>();
        services.AddSingleton<TenantEvents.Infrastructure.Projections.ProjectionDaemon>();
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Infrastructure.Projections.ProjectionDaemon>());
        services.AddSingleton<TenantEvents.Delivery.EventFeed>();
        services.AddSingleton<TenantEvents.Delivery.EventSignals>();
        services.AddSingleton<TenantEvents.Delivery.WebhookStore>();
        services.AddSingleton<TenantEvents.Delivery.BrokerFanOut>();
        services.AddSingleton<TenantEvents.Domains.DomainIndex>();
        services.AddSingleton<TenantEvents.Domains.DomainVerification>();
        services.AddSingleton<TenantEvents.Domains.DomainHosts>();
        services.AddSingleton<TenantEvents.GraphQL.ApiInvoker>();
        services.AddSingleton<TenantEvents.Manifests.ManifestService>();
        services.AddSingleton<TenantEvents.Billing.BillingStore>();
        services.AddSingleton<TenantEvents.Compliance.ComplianceStore>();
        services.AddSingleton<TenantEvents.Compliance.PersonalData>();
        services.AddSingleton<TenantEvents.Compliance.Erasure>();
        services.AddSingleton<TenantEvents.Compliance.PlatformIncidents>();
        services.AddSingleton<TenantEvents.Compliance.SecurityBaselines>();
        services.AddSingleton<TenantEvents.Compliance.ComplianceJobs>();
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Compliance.ComplianceJobs>());
        services.AddSingleton<TenantEvents.Billing.MonthCloser>();
        services.AddSingleton<TenantEvents.Billing.BudgetChecker>();
        services.AddSingleton<TenantEvents.Billing.BillingJobs>();
        services.AddSingleton<TenantEvents.Compute.ComputeJobs>();
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Billing.BillingJobs>());
        services.AddSingleton<TenantEvents.GraphQL.TenantEventsSchema>();
        services.AddSingleton(new TenantEvents.Infrastructure.Outbound.OutboundHttp(options));
        services.AddSingleton<TenantEvents.Delivery.WebhookSender>();
        services.AddSingleton<TenantEvents.Delivery.EventDelivery>();
        if (!migrating && options.EventDelivery) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Delivery.EventDelivery>());
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Quotas.QuotaLedger>());
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<TenantEvents.Audit.AuditJobs>());
        var zones = new ResidencyZones(options.Zones);
        services.AddSingleton(zones);
        // The main database: the default zone's tenants, the platform directory (which tenant lives in which database)
        // and Wolverine's node records. Zone and dedicated databases are registered in the directory by `migrate`.
        var mainDataSource = NpgsqlDataSource.Create(connectionString);
        // First of the hosted services: a database that lacks this release's migrations stops the start.
        if (!migrating)
            services.Insert(0, ServiceDescriptor.Singleton<IHostedService>(provider => new TenantEvents.Infrastructure.Databases.SchemaVersionCheck(
                mainDataSource, options, provider.GetRequiredService<ILogger<TenantEvents.Infrastructure.Databases.SchemaVersionCheck>>())));
        // The main database as the platform role: the platform's own records are written through it (DatabasePrivileges).
        var platformMainDataSource = migrating ? null : NpgsqlDataSource.Create(platformConnectionString!);
        var directory = new TenantDirectory(mainDataSource, options.DatabaseSchema, platformMainDataSource);
        services.AddSingleton(directory);
        services.AddSingleton(provider => (TenantDatabases)provider.GetRequiredService<IDocumentStore>().Options.Tenancy);
        services.AddSingleton<IKeyService>(new MeteredKeyService(options.KeyProvider switch
        {
            "local" => new LocalKeyService(options.DataFolder),
            "azure-key-vault" => new KeyVaultKeyService(
                options.KeyVaultUrl ?? throw new InvalidOperationException("TenantEvents:KeyVaultUrl is required for the azure-key-vault key provider."),
                new Azure.Identity.DefaultAzureCredential()),
            var other => throw new InvalidOperationException($"Unknown key provider '{other}' (TenantEvents:KeyProvider): local or azure-key-vault."),
        }));
        services.AddSingleton(provider =>
        {
            var databases = provider.GetRequiredService<TenantDatabases>();
            return new TenantKeyRing(provider.GetRequiredService<IKeyService>(), async (tenant, cancellation) => (await databases.ForAsync(tenant, cancellation)).Service,
                provider.GetRequiredService<Clock>(), options);
        });

        if (!migrating) services.AddHostedService<TenantEvents.Tenants.Moves.PlacementChanges>();
        services.AddSingleton<KeyRevocations>();
        if (!migrating) services.AddHostedService(provider => provider.GetRequiredService<KeyRevocations>());

        services.AddMarten(marten =>
            {
                // Conjoined tenants in one database per residency zone, or in a dedicated database of their own.
                marten.Tenancy = new TenantDatabases(marten, directory, mainDataSource, connectionString, platformConnectionString);
                marten.DatabaseSchemaName = options.DatabaseSchema;
                // Row-level security: Marten sets app.tenant_id on every session's connection and puts policies on
                // the tenant document tables; the event tables get ours (DatabaseMigration).
                marten.UseRowLevelSecurity(TenantSetting);
                marten.AutoCreateSchemaObjects = migrating ? AutoCreate.CreateOrUpdate : AutoCreate.None;
                // Never a silent default tenant: tenant data is only reached through a session opened for its tenant.
                marten.Advanced.DefaultTenantUsageEnabled = false;
                marten.UseSystemTextJsonForSerialization(EnumStorage.AsString);
                // No commit is replayed by Marten: ours share their transaction with our own statements (the access
                // tables and their MAC, read models, the outbox), so a replay on a fresh transaction would commit the
                // events without them, and a tenant's access state would be refused for good. A transient failure is the
                // caller's 503 instead, and nothing was written (Organisations/FailedCommitTests).
                marten.ConfigureWritePolly(_ => { });

                // Conjoined tenancy: every event and every tenant document row carries its tenant's id.
                marten.Events.TenancyStyle = TenancyStyle.Conjoined;
                marten.Events.StreamIdentity = StreamIdentity.AsGuid;
                marten.Events.MetadataConfig.CorrelationIdEnabled = true;
                marten.Events.MetadataConfig.CausationIdEnabled = true;
                marten.Events.MetadataConfig.HeadersEnabled = true;
                marten.Events.MetadataConfig.UserNameEnabled = true;
                // Tenant events are stored sealed (Keys/SealedRecords.cs) under their own names.
                // (Every event type of a tenant, named in one place: AuditEventTypes.ByStoredName.)
                foreach (var type in TenantEvents.Audit.AuditEventTypes.ByStoredName.Values)
                    marten.Events.MapEventType(typeof(Sealed<>).MakeGenericType(type), TenantEventTypes.StoredName(type));

                // The read model, written by TenantStreams in the same transaction as the events it reflects.
                marten.Schema.For<TenantRecord>().MultiTenanted();
                marten.Schema.For<TenantEvents.Identity.ServiceAccountRecord>().MultiTenanted();
                marten.Schema.For<TenantEvents.Identity.IdentityProviderRecord>().MultiTenanted();
                marten.Schema.For<TenantEvents.Domains.TenantDomainsRecord>().MultiTenanted();
                marten.Schema.For<TenantEvents.Manifests.TenantManifestRecord>().MultiTenanted();
            })
            .UseLightweightSessions()
            .IntegrateWithWolverine(wolverine => wolverine.MainDatabaseConnectionString = connectionString);

        builder.Host.UseWolverine(wolverine =>
        {
            // Handlers and endpoints live here, whichever program hosts the service (the service, the tests, the benchmarks).
            wolverine.ApplicationAssembly = typeof(Hosting).Assembly;
            wolverine.Policies.UseDurableLocalQueues();
            // Work on a tenant that is being moved to another database is refused where it was (Tenants/Moves): it waits
            // for the switch, then goes to the new database, instead of burning its attempts in a tight loop.
            wolverine.OnException(e => Failures.IsTenantMoving(e))
                .RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5))
                .Then.ScheduleRetry(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5));
            // An instance that died (no health check for 30 s) has its persisted messages taken over by the others, or by
            // itself when it comes back: half of Wolverine's default minute.
            wolverine.Durability.HealthCheckPollingTime = TimeSpan.FromSeconds(5);
            wolverine.Durability.StaleNodeTimeout = TimeSpan.FromSeconds(30);
            wolverine.Policies.UseDurableOutboxOnAllSendingEndpoints();
            // Cross-tenant access records are appended one message at a time: each trail is one stream, and records of
            // one trail arrive in the order they were queued (no two appends race for a stream's next version).
            wolverine.LocalQueueFor<TenantEvents.Audit.RecordCrossTenantAccess>().Sequential();
            // Every event to RabbitMQ, when a broker is configured (Delivery/BrokerPublishing.cs).
            TenantEvents.Delivery.BrokerPublishing.Configure(wolverine, options);
            // Handler code is generated ahead of time (src/TenantEvents/Internal/Generated, `make codegen`) and loaded
            // statically: no Roslyn at start-up.
            wolverine.CodeGeneration.TypeLoadMode = TypeLoadMode.Static;
            wolverine.AutoBuildMessageStorageOnStartup = migrating ? AutoCreate.CreateOrUpdate : AutoCreate.None;
        });
        services.AddWolverineHttp();

        services.ConfigureHttpJsonOptions(json => Json.Configure(json.SerializerOptions));
        // Responses that leave the pipeline without a body (an unroutable id, an unsupported method) still get
        // problem+json, with this API's stable problem types.
        services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            var code = context.ProblemDetails.Status switch
            {
                404 => "not-found",
                405 => "method-not-allowed",
                415 => "unsupported-media-type",
                400 => "malformed-request",
                _ => context.ProblemDetails.Status >= 500 ? "internal-error" : "bad-request",
            };
            context.ProblemDetails.Type = "urn:tenantevents:problem:" + code;
        });
        services.AddOpenApi();
        services.AddTenantEventsSecurity(builder.Environment, options, mainDataSource, directory.Platform);

        services.AddTenantEventsHealth();

        // Metrics always (readable in-process, e.g. by dotnet-counters); traces are recorded only when they go somewhere:
        // OTLP export when an endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT and the other standard variables).
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("tenantevents"))
            .WithMetrics(m => m.AddAspNetCoreInstrumentation().AddRuntimeInstrumentation().AddMeter("Wolverine*", "Marten*", Telemetry.Name)
                .AddTenantEventsExporters(options));
        services.AddTenantEventsMetrics(options);
        if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            otel.WithTracing(t => t.AddAspNetCoreInstrumentation().AddSource("Wolverine", "Marten", Telemetry.Name)).UseOtlpExporter();

        return builder;
    }

    public static WebApplication UseTenantEvents(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = async http =>
            {
                var failure = http.Features.Get<IExceptionHandlerFeature>()?.Error;
                // A tenant moved while this instance still placed it where it was: read the placements again.
                if (Failures.IsTenantMoving(failure)) http.RequestServices.GetRequiredService<TenantDatabases>().ForgetAll();
                var problem = Failures.ToProblem(failure, System.Diagnostics.Activity.Current?.TraceId.ToString() ?? http.TraceIdentifier);
                if (problem.Status == 503) http.Response.Headers.RetryAfter = "5";
                await problem.ToResult().ExecuteAsync(http);
            },
            // A refusal found half-way (a bound reached) or unreadable input is the caller's 4xx, not our error: not logged
            // as a failure with a stack trace. Everything else (a 5xx) is.
            SuppressDiagnosticsCallback = context => Failures.ToProblem(context.Exception, "") is { Status: < 500 },
        });
        app.UseStatusCodePages();
        // Behind trusted proxies, the client's address is the one they forwarded (for limits per client address).
        var trusted = app.Services.GetRequiredService<TenantEventsOptions>().TrustedNetworks;
        if (trusted.Count > 0)
        {
            var forwarded = new Microsoft.AspNetCore.Builder.ForwardedHeadersOptions { ForwardedHeaders = Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor };
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var network in trusted) forwarded.KnownIPNetworks.Add(network);
            app.UseForwardedHeaders(forwarded);
        }
        // /metrics on the management port, before anything a scrape has no business with (Operations/Metrics.cs).
        app.UseManagementPort(app.Services.GetRequiredService<TenantEventsOptions>());
        // The web console's static files (Console/ConsoleHosting.cs): the same for everyone, no data, no credential needed.
        TenantEvents.WebConsole.ConsoleHosting.UseConsole(app, app.Services.GetRequiredService<TenantEventsOptions>());
        // Which tenant the host serves (a verified name only), before anything else looks at the request (Domains/DomainHosts.cs).
        app.UseMiddleware<TenantEvents.Domains.DomainHosts>();
        // Requests without a verified credential, per client address: checked before authentication does any work for
        // them, and counted once it has found no one (Security/AnonymousRateLimit.cs).
        var anonymous = app.Services.GetRequiredService<AnonymousRateLimit>();
        app.Use(anonymous.Gate);
        app.UseAuthentication();
        app.Use(anonymous.Count);
        // A tenant's fair share and API call quotas, before any work is done for the request.
        app.UseMiddleware<TenantEvents.Quotas.ApiMetering>();
        var baselines = app.Services.GetRequiredService<TenantEvents.Compliance.SecurityBaselines>();
        app.Use((http, next) => baselines.GateAsync(http, next));
        app.UseAuthorization();
        // Who was active, per day and feature area, for analytics (in memory, written in batches).
        app.UseMiddleware<TenantEvents.Analytics.ActivityCapture>();

        app.MapTenantEventsHealth();
        app.MapOpenApi().AllowAnonymous();
        app.MapWolverineEndpoints(http => http.ConfigureEndpoints(OpenApiResponses.Describe));
        TenantEvents.GraphQL.GraphQLHttp.Map(app);
        return app;
    }
}
