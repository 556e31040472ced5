using System.Security.Cryptography;
using TenantEvents.Keys;

namespace TenantEvents.Organisations;

/// <summary>
/// The MAC that binds a tenant's access tables (org_nodes, org_grants, org_policies, org_members, org_quota_allocations,
/// tenant_roles) to the commands that wrote them. Those tables are a projection the service's database role must be able
/// to write; with only that role's password an attacker could add a grant and be tenant administrator with no event, no
/// audit entry. So every accepted organisation command also stores, beside the access version, an HMAC (under a key
/// derived from the tenant's data key, which the database never holds) of the tenant, the version and the graph's
/// <see cref="AccessGraph.StateDigest"/>: the XOR of a keyed hash of every row, kept up to date as rows change, so a
/// command costs a few hashes however large the tree. A graph loaded from the tables is used only when it verifies;
/// otherwise it is rebuilt from the sealed organisation events (which that password cannot forge either) and used when
/// that verifies; otherwise the tenant's access is refused (fail closed) until an operator looks (Organisations/AccessState.cs).
/// </summary>
public static class AccessSeal
{
    public static byte[] Mac(DataKey key, Guid tenant, long version, byte[] digest)
    {
        var message = new byte[16 + 8 + digest.Length];
        tenant.TryWriteBytes(message.AsSpan(0, 16), bigEndian: true, out _);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(message.AsSpan(16, 8), version);
        digest.CopyTo(message, 24);
        return key.AccessStateMac(message);
    }

    public static bool Verifies(DataKey key, Guid tenant, long version, byte[] digest, byte[] mac) =>
        CryptographicOperations.FixedTimeEquals(Mac(key, tenant, version, digest), mac);
}
