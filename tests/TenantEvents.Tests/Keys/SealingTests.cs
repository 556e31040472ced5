using System.Security.Cryptography;
using System.Text;
using TenantEvents.Keys;

namespace TenantEvents.Tests.Keys;

public class SealingTests
{
    private static readonly Guid TenantA = Guid.CreateVersion7();
    private static readonly Guid TenantB = Guid.CreateVersion7();
    private static readonly Guid Stream = Guid.CreateVersion7();
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("{\"contact\":\"sally@travis.example.gov\"}");

    private static DataKey Key(Guid tenant, int version = 1) => new(tenant, version, RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void what_is_sealed_opens_with_the_same_key_where_it_was_sealed()
    {
        var key = Key(TenantA);
        var payload = Sealing.Seal(key, Secret, Stream, "tenant_requested");
        payload.Ciphertext.Length.ShouldBe(Secret.Length + Sealing.TagSize);
        payload.Nonce.Length.ShouldBe(Sealing.NonceSize);
        Encoding.UTF8.GetString(payload.Ciphertext).ShouldNotContain("sally");
        Sealing.Open(key, payload, Stream, "tenant_requested").ShouldBe(Secret);
    }

    [Fact]
    public void every_seal_uses_a_fresh_nonce()
    {
        var key = Key(TenantA);
        var nonces = Enumerable.Range(0, 1000).Select(_ => Convert.ToBase64String(Sealing.Seal(key, Secret, Stream, "t").Nonce)).ToHashSet();
        nonces.Count.ShouldBe(1000);
    }

    [Fact]
    public void moved_to_another_stream_or_type_it_no_longer_opens()
    {
        var key = Key(TenantA);
        var payload = Sealing.Seal(key, Secret, Stream, "tenant_requested");
        Should.Throw<IntegrityViolationException>(() => Sealing.Open(key, payload, Guid.CreateVersion7(), "tenant_requested"));
        Should.Throw<IntegrityViolationException>(() => Sealing.Open(key, payload, Stream, "tenant_renamed"));
    }

    [Fact]
    public void moved_to_another_tenant_it_no_longer_opens_even_with_the_same_key_bytes()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        var payload = Sealing.Seal(new DataKey(TenantA, 1, bytes), Secret, Stream, "t");
        Should.Throw<IntegrityViolationException>(() => Sealing.Open(new DataKey(TenantB, 1, bytes), payload, Stream, "t"));
    }

    [Fact]
    public void tenant_bs_key_cannot_open_tenant_as_data()
    {
        var payload = Sealing.Seal(Key(TenantA), Secret, Stream, "t");
        Should.Throw<IntegrityViolationException>(() => Sealing.Open(Key(TenantB), payload, Stream, "t"));
    }

    [Fact]
    public void a_claimed_key_version_other_than_the_sealing_one_is_refused()
    {
        var bytes = RandomNumberGenerator.GetBytes(32);
        var payload = Sealing.Seal(new DataKey(TenantA, 1, bytes), Secret, Stream, "t");
        Should.Throw<IntegrityViolationException>(() => Sealing.Open(new DataKey(TenantA, 2, bytes), payload with { KeyVersion = 2 }, Stream, "t"));
    }

    [Fact]
    public void a_flipped_bit_anywhere_is_detected()
    {
        var key = Key(TenantA);
        var payload = Sealing.Seal(key, Secret, Stream, "t");
        for (var i = 0; i < payload.Ciphertext.Length; i++)
        {
            var tampered = payload.Ciphertext.ToArray();
            tampered[i] ^= 0x01;
            Should.Throw<IntegrityViolationException>(() => Sealing.Open(key, payload with { Ciphertext = tampered }, Stream, "t"));
        }
        var nonce = payload.Nonce.ToArray();
        nonce[0] ^= 0x80;
        Should.Throw<IntegrityViolationException>(() => Sealing.Open(key, payload with { Nonce = nonce }, Stream, "t"));
    }
}

public class LocalKeyServiceTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "tenantevents-keys-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }

    [Fact]
    public async Task a_tenants_kek_wraps_and_unwraps_and_is_destroyed_on_its_own()
    {
        var keys = new LocalKeyService(_folder);
        var a = Guid.CreateVersion7();
        var b = Guid.CreateVersion7();
        var kekA = await keys.CreateKeyAsync(a, default);
        var kekB = await keys.CreateKeyAsync(b, default);
        kekA.ShouldBe($"local/tenants/{a}/kek-v1");
        var dek = RandomNumberGenerator.GetBytes(32);
        var wrappedA = keys.Resolve(kekA).WrapKey(keys.WrapAlgorithm, dek);
        var wrappedB = keys.Resolve(kekB).WrapKey(keys.WrapAlgorithm, dek);
        wrappedA.ShouldNotBe(dek);
        keys.Resolve(kekA).UnwrapKey(keys.WrapAlgorithm, wrappedA).ShouldBe(dek);
        // B's KEK cannot unwrap what A's wrapped.
        Should.Throw<CryptographicException>(() => keys.Resolve(kekB).UnwrapKey(keys.WrapAlgorithm, wrappedA));

        await keys.DestroyKeysAsync(a, default);
        Should.Throw<KeyNotFoundException>(() => keys.Resolve(kekA));
        keys.Resolve(kekB).UnwrapKey(keys.WrapAlgorithm, wrappedB).ShouldBe(dek);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are Unix's
    public async Task the_root_key_and_wrapped_keks_are_owner_only_and_survive_a_restart()
    {
        var tenant = Guid.CreateVersion7();
        var kek = await new LocalKeyService(_folder).CreateKeyAsync(tenant, default);
        var wrapped = new LocalKeyService(_folder).Resolve(kek).WrapKey(LocalKeyService.Algorithm, new byte[32]);
        new LocalKeyService(_folder).Resolve(kek).UnwrapKey(LocalKeyService.Algorithm, wrapped).ShouldBe(new byte[32]);
        File.GetUnixFileMode(Path.Combine(_folder, "keys", "root.key")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.GetUnixFileMode(Path.Combine(_folder, "keys", "tenants", tenant.ToString(), "kek-v1.bin"))
            .ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Fact]
    public async Task two_processes_rotating_one_tenants_kek_at_once_never_overwrite_a_version()
    {
        // Two key services on one folder, as two instances (or an instance and the CLI) sharing a data folder: each
        // rotates the same tenant's KEK again and again at the same time and wraps a data key with every version it gets.
        var tenant = Guid.CreateVersion7();
        var dek = RandomNumberGenerator.GetBytes(32);
        const int rotations = 150;
        using var start = new Barrier(2);
        Task<List<(string Id, byte[] Wrapped)>> Rotate(LocalKeyService keys) => Task.Factory.StartNew(() =>
        {
            var made = new List<(string, byte[])>();
            start.SignalAndWait();
            for (var i = 0; i < rotations; i++)
            {
                var id = keys.CreateKeyAsync(tenant, default).GetAwaiter().GetResult();
                made.Add((id, keys.Resolve(id).WrapKey(LocalKeyService.Algorithm, dek)));
            }
            return made;
        }, TaskCreationOptions.LongRunning);

        var made = (await Task.WhenAll(Rotate(new LocalKeyService(_folder)), Rotate(new LocalKeyService(_folder)))).SelectMany(m => m).ToList();

        // Every version handed out is its own, and still unwraps what was wrapped with it (read afresh, as after a restart).
        made.Select(m => m.Id).Distinct().Count().ShouldBe(2 * rotations);
        var reader = new LocalKeyService(_folder);
        foreach (var (id, wrapped) in made)
            reader.Resolve(id).UnwrapKey(LocalKeyService.Algorithm, wrapped).ShouldBe(dek, id);
        Directory.GetFiles(Path.Combine(_folder, "keys", "tenants", tenant.ToString())).Length.ShouldBe(2 * rotations);
    }

    [Fact]
    public void forged_key_ids_resolve_to_nothing()
    {
        var keys = new LocalKeyService(_folder);
        Should.Throw<KeyNotFoundException>(() => keys.Resolve("local/tenants/../../root/kek-v1"));
        Should.Throw<KeyNotFoundException>(() => keys.Resolve($"local/tenants/{Guid.NewGuid()}/kek-v1"));
        Should.Throw<KeyNotFoundException>(() => keys.Resolve("https://vault.example/keys/x"));
    }
}
