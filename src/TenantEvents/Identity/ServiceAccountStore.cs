using Marten;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Organisations;
using TenantEvents.Tenants;
using Wolverine.Runtime;

namespace TenantEvents.Identity;

/// <summary>
/// The edge of the service-account slice: who may manage accounts (identity.manage at the tenant's root, and never
/// beyond the caller's own permissions), the account's stream and read model in one transaction of the tenant's
/// database, and the platform directory (client id -> tenant, revocations) in the main database.
/// </summary>
public sealed class ServiceAccountStore(TenantStreams streams, OrganisationStore organisations, CredentialRevocations revocations)
{
    public const string ManagePermission = "identity.manage";

    public TenantStreams Streams => streams;

    public OrganisationStore Organisations => organisations;

    /// <summary>The caller's standing if it may manage the tenant's service accounts (404 / 403 / 409 / 410 otherwise).</summary>
    public async Task<(Standing? Standing, IResult? Refusal)> EnterAsync(HttpContext http, Guid tenantId, bool writing,
        IReadOnlyList<string>? scopes, CancellationToken cancellation)
    {
        var (refusal, answer) = await OrgHttp.ReadCore(http, streams, organisations, tenantId, (standing, graph) =>
            graph.Root is not { } root ? (standing, Problem.NotFound("tenant"))
            : OrgHttp.Authorise(standing, graph, ManagePermission, root, "tenant") is { } no ? (standing, no)
            : scopes is not null && GrantorBound.Check(standing, graph, [ServiceAccountRules.Conferral(root, scopes)]) is { } beyond ? (standing, beyond)
            : (standing, (Problem?)null), cancellation, writing);
        if (refusal is not null) return (null, refusal);
        return answer.Item2 is { } problem ? (null, problem.ToResult()) : (answer.standing, null);
    }

    /// <summary>The grantor's bound on an account's scopes, on the tenant's access graph now: null when the actor holds them all.</summary>
    public Task<Problem?> BoundAsync(Standing standing, Guid tenantId, IEnumerable<string> scopes, CancellationToken cancellation) =>
        organisations.ReadAsync(tenantId, graph => graph.Root is { } root
            ? GrantorBound.Check(standing, graph, [ServiceAccountRules.Conferral(root, scopes)])
            : Problem.NotFound("tenant"), cancellation);

    public async Task<ServiceAccountRecord?> LoadAsync(Guid tenantId, Guid accountId, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenantId.ToString());
        return await session.LoadAsync<ServiceAccountRecord>(accountId, cancellation);
    }

    public async Task<IReadOnlyList<ServiceAccountRecord>> ListAsync(Guid tenantId, CancellationToken cancellation)
    {
        await using var session = streams.Store.QuerySession(tenantId.ToString());
        return await session.Query<ServiceAccountRecord>().OrderBy(a => a.CreatedAt).ToListAsync(cancellation);
    }

    /// <summary>Creates the account: its client id is registered in the directory first (harmless if the commit then fails).</summary>
    public async Task<ServiceAccountRecord> CreateAsync(MessageContext context, Guid tenantId, ServiceAccountCreated created, CancellationToken cancellation)
    {
        await using (var register = streams.Directory.Main.CreateCommand(
                         $"insert into {streams.Options.DatabaseSchema}.oauth_clients (client_id, tenant) values ($1, $2)"))
        {
            register.Parameters.Add(new NpgsqlParameter { Value = created.AccountId });
            register.Parameters.Add(new NpgsqlParameter { Value = tenantId });
            await register.ExecuteNonQueryAsync(cancellation);
        }
        var record = ServiceAccountRules.Apply(null, created, await SealHashAsync(tenantId, created.AccountId, created.SecretHash, cancellation));
        await using var tx = await streams.BeginAsync(context, tenantId, cancellation, begin: false);
        await tx.AppendAsync(created.AccountId, [created], cancellation, start: true);
        tx.Session.Store(record);
        await tx.CommitAsync(cancellation);
        return record;
    }

    /// <summary>
    /// A change to an existing account, decided on its current record: null (404) if there is none, or the refusal, or
    /// the record after the change. Revocations that protect are written before the change commits; the one that
    /// reopens (enable) after, so a failure in between leaves the account more closed, never more open.
    /// </summary>
    public async Task<(ServiceAccountRecord? Record, Problem? Refusal)> ExecuteAsync(MessageContext context, Guid tenantId, Guid accountId,
        long? expectedVersion, Func<ServiceAccountRecord, Task<object?>> decide, CancellationToken cancellation)
    {
        await using var tx = await streams.BeginAsync(context, tenantId, cancellation);
        var record = await tx.Session.LoadAsync<ServiceAccountRecord>(accountId, cancellation);
        if (record is null) return (null, Problem.NotFound("service account"));
        if (expectedVersion is { } v && v != record.Version) return (record, Problem.StaleVersion(v, record.Version));
        // Decided on this version of the record; the append below expects it, so a concurrent change fails the commit.
        var e = await decide(record);
        if (e is null) return (record, null);
        if (e is Problem refusal) return (record, refusal);

        if (e is ServiceAccountDisabled) await revocations.RevokeAsync(accountId, tenantId, CredentialRevocations.Forever, cancellation);
        // A SCIM credential is the secret itself: a new secret, a disable or a change of scopes ends the ones verified before.
        if (e is ServiceAccountSecretRotated or ServiceAccountDisabled or ServiceAccountScopesChanged)
            await revocations.RevokeAsync(ScimCredential.RevocationId(accountId), tenantId, DateTimeOffset.UtcNow, cancellation);
        if (e is ServiceAccountSecretRotated { TokensRevoked: true }) await revocations.RevokeAsync(accountId, tenantId, DateTimeOffset.UtcNow, cancellation);
        // Narrowed scopes bind at once: tokens carry the scopes they were issued with, so every token issued before now
        // dies and the client asks again (and gets only what the account still holds). Again after the commit, for a
        // token issued from the old record in between.
        // (A disabled account's tokens are all dead already: its "forever" is not shortened.)
        var narrowed = record.Enabled && e is ServiceAccountScopesChanged changed && ServiceAccountRules.Narrows(record.Scopes, changed.Scopes);
        if (narrowed) await revocations.RevokeAsync(accountId, tenantId, DateTimeOffset.UtcNow, cancellation);
        var sealedHash = e switch
        {
            ServiceAccountSecretRotated r => await SealHashAsync(tenantId, accountId, r.SecretHash, cancellation),
            _ => record.SecretHash,
        };
        var expected = record.Version;
        var after = ServiceAccountRules.Apply(record, e, sealedHash);
        await tx.AppendAsync(accountId, [e], cancellation, versionAfter: after.Version);
        tx.Session.Store(after);
        if (!await tx.TryCommitAsync(cancellation)) return (null, Problem.StaleVersion(expected, expected + 1));
        // Tokens issued while it was disabled could not exist; those from before the disable stay dead.
        if (e is ServiceAccountEnabled || narrowed) await revocations.RevokeAsync(accountId, tenantId, DateTimeOffset.UtcNow, cancellation);
        return (after, null);
    }

    private Task<Keys.SealedPayload> SealHashAsync(Guid tenantId, Guid accountId, byte[] hash, CancellationToken cancellation) =>
        streams.SealBytesAsync(tenantId, hash, accountId, ServiceAccountRecord.SecretType, cancellation);

    /// <summary>Whether the secret is the account's (constant-time comparison of SHA-256 hashes).</summary>
    public async Task<bool> SecretMatchesAsync(Guid tenantId, ServiceAccountRecord record, string secret, CancellationToken cancellation)
    {
        if (record.SecretHash is not { } sealedHash) return false;
        var stored = await streams.OpenBytesAsync(tenantId, sealedHash, record.Id, ServiceAccountRecord.SecretType, cancellation);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(stored, ServiceAccountRules.Hash(secret));
    }

    /// <summary>The tenant a client id belongs to (directory lookup; null for an unknown client).</summary>
    public async Task<Guid?> TenantOfClientAsync(Guid clientId, CancellationToken cancellation)
    {
        await using var command = streams.Directory.Main.CreateCommand(
            $"select tenant from {streams.Options.DatabaseSchema}.oauth_clients where client_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = clientId });
        return await command.ExecuteScalarAsync(cancellation) as Guid?;
    }
}
