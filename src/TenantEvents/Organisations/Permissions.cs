using TenantEvents.Infrastructure;
namespace TenantEvents.Organisations;

/// <summary>
/// Every permission a role can hold, named in one place. Roles are tenant-defined sets of these; templates seed them.
/// </summary>
public static class Permissions
{
    public const string OrgRead = "org.read";
    public const string OrgManage = "org.manage";
    public const string RoleManage = "role.manage";
    public const string MemberManage = "member.manage";
    public const string AccessRead = "access.read";

    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [OrgRead] = "see organisations and their attributes",
        [OrgManage] = "create, rename, move and close organisations",
        [RoleManage] = "define the tenant's roles (at the root only)",
        [MemberManage] = "grant and revoke roles (never beyond one's own permissions)",
        [AccessRead] = "see who holds which permissions, and why",
        ["identity.manage"] = "configure identity federation and provisioning",
        ["scim.provision"] = "push users and groups through SCIM 2.0 (a directory's credential)",
        ["sharing.manage"] = "offer and accept sharing agreements",
        ["case.read"] = "read case files",
        ["case.write"] = "create and update case files",
        ["case.share"] = "share case files under agreements",
        ["case.comment"] = "comment on case files",
        ["audit.read"] = "read the audit trail",
        ["webhooks.manage"] = "subscribe webhooks to the tenant's events, see and repeat their deliveries",
        ["analytics.read"] = "see the tenant's analytics: active users, feature adoption, utilisation",
        ["events.read"] = "follow the tenant's events as they happen (the event stream)",
        ["member.read"] = "see the members of organisations",
        ["billing.read"] = "see the tenant's usage, invoices and budgets",
        ["billing.manage"] = "approve invoices and give their purchase orders; set the budgets of the organisations below (held at the parent of the one budgeted)",
        ["quota.manage"] = "allocate shares of the tenant's quotas to the organisations below (held at the parent of the one allocated to)",
        ["compute.use"] = "reserve and commit AI compute units",
        ["compliance.read"] = "see the tenant's compliance rules, data-subject requests, incidents, records of processing and security baseline",
        ["compliance.manage"] = "handle data-subject requests (verify, extend, fulfil, erase), register and report incidents, edit processing records and the security baseline",
    };

    public static bool IsKnown(string permission) => All.ContainsKey(permission);

    /// <summary>What holding a permission brings with it: managing something includes seeing it.</summary>
    private static readonly IReadOnlyDictionary<string, string[]> Implied = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        [OrgManage] = [OrgRead],
        [MemberManage] = ["member.read", AccessRead],
        [RoleManage] = [OrgRead],
        ["billing.manage"] = ["billing.read"],
        ["compliance.manage"] = ["compliance.read"],
    };

    /// <summary>The permissions with everything they imply.</summary>
    public static IReadOnlySet<string> Effective(IEnumerable<string> permissions)
    {
        var set = new HashSet<string>(permissions, StringComparer.Ordinal);
        foreach (var p in set.ToList())
            if (Implied.TryGetValue(p, out var more)) set.UnionWith(more);
        return set;
    }
}
