using System.Security.Cryptography;
using Microsoft.IdentityModel.Tokens;
using Npgsql;
using TenantEvents.Infrastructure;
using TenantEvents.Keys;

namespace TenantEvents.Identity;

/// <summary>One of the platform's token signing keys (ECDSA P-256, ES256).</summary>
public sealed record SigningKey(string Kid, ECParameters Public, DateTimeOffset CreatedAt, DateTimeOffset? RetiredAt, string KekId,
    string WrapAlgorithm, byte[] WrappedD)
{
    public bool Active => RetiredAt is null;

    public JsonWebKey Jwk() => new()
    {
        Kty = "EC", Crv = "P-256", Use = "sig", Alg = SecurityAlgorithms.EcdsaSha256, Kid = Kid,
        X = Base64UrlEncoder.Encode(Public.Q.X), Y = Base64UrlEncoder.Encode(Public.Q.Y),
    };
}

/// <summary>
/// The keys that sign the platform's access tokens (service accounts, RFC 9068 at+jwt), kept in the main database so
/// every instance signs and verifies with the same set. The private scalar is stored only wrapped by the key service
/// (the platform's own KEK, apart from every tenant's), unwrapped once per key per process. Rotation makes a new key
/// the signing key; the retired ones stay published in the JWKS until every token they signed has expired.
/// </summary>
public sealed class PlatformSigningKeys(NpgsqlDataSource main, TenantEventsOptions options, IKeyService keyService, TimeProvider time)
{
    /// <summary>The owner id the platform's KEKs are made under (no tenant has it: tenant ids are version 7).</summary>
    public static readonly Guid PlatformKeyOwner = Guid.Empty;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile IReadOnlyList<SigningKey> _keys = [];
    private readonly Dictionary<string, SecurityKey> _verifiers = new(StringComparer.Ordinal);
    private (string Kid, ECDsaSecurityKey Key)? _signer;
    private long _loadedAtTicks = long.MinValue / 4; // "long ago", far enough that now minus it cannot overflow
    private long _lastUnknownKidReload = long.MinValue / 4; // "long ago", far enough that now minus it cannot overflow

    private string Schema => options.DatabaseSchema;

    /// <summary>How long a retired key stays published: the longest token lifetime plus clock skew, with a margin.</summary>
    private TimeSpan PublishedAfterRetirement => options.ServiceTokenLifetime + options.ClockSkew + TimeSpan.FromMinutes(5);

    /// <summary>The keys published in the JWKS: the signing key and the retired keys whose tokens may still be alive.</summary>
    public async Task<IReadOnlyList<SigningKey>> PublishedAsync(CancellationToken cancellation)
    {
        await EnsureLoadedAsync(cancellation, maxAge: TimeSpan.FromSeconds(30));
        var now = time.GetUtcNow();
        return _keys.Where(k => k.RetiredAt is null || k.RetiredAt + PublishedAfterRetirement > now).ToList();
    }

    /// <summary>The key tokens are signed with now; made on first use (one instance makes it, the others read it).</summary>
    public async Task<(string Kid, ECDsaSecurityKey Key)> SignerAsync(CancellationToken cancellation)
    {
        await EnsureLoadedAsync(cancellation, maxAge: TimeSpan.FromSeconds(30));
        var active = _keys.FirstOrDefault(k => k.Active);
        if (active is not null && active.CreatedAt + options.SigningKeyLifetime <= time.GetUtcNow())
            active = null; // due for rotation: the next token is signed by a new key
        if (active is null)
        {
            await RotateAsync(onlyIfDue: true, cancellation);
            active = _keys.First(k => k.Active);
        }
        var signer = _signer;
        if (signer?.Kid == active.Kid) return signer.Value;
        ECDsaSecurityKey key;
        try
        {
            key = await PrivateKeyAsync(active, cancellation);
        }
        catch (Exception e) when (e is KeyNotFoundException or CryptographicException)
        {
            // The key service no longer holds this key's KEK (a lost or replaced local root key, a deleted vault key):
            // the key can only verify now. A new one signs from here on; tokens already issued stay valid.
            active = await RotateAsync(onlyIfDue: false, cancellation);
            key = await PrivateKeyAsync(active, cancellation);
        }
        _signer = (active.Kid, key);
        return _signer.Value;
    }

    /// <summary>
    /// A verification key by id. An unknown id reloads the set (another instance may have rotated), at most once a
    /// second, so a flood of tokens with made-up key ids costs one query per second, not one per token.
    /// </summary>
    public async ValueTask<SecurityKey?> VerifierAsync(string? kid, CancellationToken cancellation)
    {
        if (kid is null) return null;
        if (_keys.Count == 0) await EnsureLoadedAsync(cancellation, TimeSpan.FromSeconds(30));
        lock (_verifiers)
            if (_verifiers.TryGetValue(kid, out var known)) return Published(kid) ? known : null;
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastUnknownKidReload);
        if (now - last >= 1000 && Interlocked.CompareExchange(ref _lastUnknownKidReload, now, last) == last)
            await EnsureLoadedAsync(cancellation, TimeSpan.Zero);
        lock (_verifiers) return _verifiers.TryGetValue(kid, out var found) && Published(kid) ? found : null;
    }

    /// <summary>Whether the key that signed a verified platform token (its "kid" claim) is still published.</summary>
    public ValueTask<bool> IsPublishedAsync(System.Security.Claims.ClaimsPrincipal principal, CancellationToken cancellation) =>
        ValueTask.FromResult(principal.FindFirst("kid")?.Value is { } kid && Published(kid));

    private bool Published(string kid)
    {
        var key = _keys.FirstOrDefault(k => k.Kid == kid);
        return key is not null && (key.RetiredAt is null || key.RetiredAt + PublishedAfterRetirement > time.GetUtcNow());
    }

    /// <summary>
    /// A new signing key; the current one retires (its tokens stay valid until they expire). With
    /// <paramref name="onlyIfDue"/>, nothing happens if another instance already made a key that is not due.
    /// </summary>
    public async Task<SigningKey> RotateAsync(bool onlyIfDue, CancellationToken cancellation)
    {
        await _gate.WaitAsync(cancellation);
        try
        {
            await using var connection = await main.OpenConnectionAsync(cancellation);
            await using var transaction = await connection.BeginTransactionAsync(cancellation);
            await Execute(connection, transaction, "select pg_advisory_xact_lock(hashtextextended('tenantevents:signing-keys', 0))", cancellation);
            var now = time.GetUtcNow();
            if (onlyIfDue)
            {
                await using var check = new NpgsqlCommand(
                    $"select count(*) from {Schema}.platform_signing_keys where retired_at is null and created_at > $1", connection, transaction);
                check.Parameters.Add(new NpgsqlParameter { Value = now - options.SigningKeyLifetime });
                if ((long)(await check.ExecuteScalarAsync(cancellation))! > 0)
                {
                    await transaction.CommitAsync(cancellation);
                    await LoadAsync(cancellation);
                    return _keys.First(k => k.Active);
                }
            }

            using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var parameters = ecdsa.ExportParameters(includePrivateParameters: true);
            var kekId = await keyService.CreateKeyAsync(PlatformKeyOwner, cancellation);
            var kek = await keyService.Resolver.ResolveAsync(kekId, cancellation);
            var wrapped = await kek.WrapKeyAsync(keyService.WrapAlgorithm, parameters.D, cancellation);
            CryptographicOperations.ZeroMemory(parameters.D);
            var kid = Base64UrlEncoder.Encode(SHA256.HashData([.. parameters.Q.X!, .. parameters.Q.Y!]).AsSpan(0, 16).ToArray());

            await using (var retire = new NpgsqlCommand(
                             $"update {Schema}.platform_signing_keys set retired_at = $1 where retired_at is null", connection, transaction))
            {
                retire.Parameters.Add(new NpgsqlParameter { Value = now });
                await retire.ExecuteNonQueryAsync(cancellation);
            }
            await using (var insert = new NpgsqlCommand($"""
                             insert into {Schema}.platform_signing_keys (kid, algorithm, public_x, public_y, kek_id, wrap_algorithm, wrapped_d, created_at)
                             values ($1, 'ES256', $2, $3, $4, $5, $6, $7)
                             """, connection, transaction))
            {
                foreach (var v in new object[] { kid, parameters.Q.X!, parameters.Q.Y!, kekId, keyService.WrapAlgorithm, wrapped, now })
                    insert.Parameters.Add(new NpgsqlParameter { Value = v });
                await insert.ExecuteNonQueryAsync(cancellation);
            }
            await transaction.CommitAsync(cancellation);
            await LoadAsync(cancellation);
            return _keys.First(k => k.Kid == kid);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task EnsureLoadedAsync(CancellationToken cancellation, TimeSpan maxAge)
    {
        if (Environment.TickCount64 - Interlocked.Read(ref _loadedAtTicks) < maxAge.TotalMilliseconds) return;
        await LoadAsync(cancellation);
    }

    private async Task LoadAsync(CancellationToken cancellation)
    {
        await using var command = main.CreateCommand(
            $"select kid, public_x, public_y, created_at, retired_at, kek_id, wrap_algorithm, wrapped_d from {Schema}.platform_signing_keys order by created_at desc");
        var keys = new List<SigningKey>();
        await using (var reader = await command.ExecuteReaderAsync(cancellation))
            while (await reader.ReadAsync(cancellation))
                keys.Add(new SigningKey(reader.GetString(0),
                    new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = (byte[])reader[1], Y = (byte[])reader[2] } },
                    reader.GetFieldValue<DateTimeOffset>(3), reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                    reader.GetString(5), reader.GetString(6), (byte[])reader[7]));
        lock (_verifiers)
            foreach (var key in keys.Where(k => !_verifiers.ContainsKey(k.Kid)))
                _verifiers[key.Kid] = new ECDsaSecurityKey(ECDsa.Create(key.Public)) { KeyId = key.Kid };
        _keys = keys;
        Interlocked.Exchange(ref _loadedAtTicks, Environment.TickCount64);
    }

    private async Task<ECDsaSecurityKey> PrivateKeyAsync(SigningKey key, CancellationToken cancellation)
    {
        var kek = await keyService.Resolver.ResolveAsync(key.KekId, cancellation);
        var d = await kek.UnwrapKeyAsync(key.WrapAlgorithm, key.WrappedD, cancellation);
        var ecdsa = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = key.Public.Q, D = d });
        CryptographicOperations.ZeroMemory(d);
        return new ECDsaSecurityKey(ecdsa) { KeyId = key.Kid };
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellation)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellation);
    }
}
