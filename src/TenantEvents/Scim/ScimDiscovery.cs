using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Wolverine.Http;

namespace TenantEvents.Scim;

/// <summary>What a SCIM client discovers first (RFC 7644 section 4, RFC 7643 sections 5 to 7): features, resource types, schemas.</summary>
public static class ScimDiscoveryEndpoints
{
    private const string Base = "/api/tenants/{tenantId}/scim/v2";

    [WolverineGet(Base + "/ServiceProviderConfig", OperationId = "ScimServiceProviderConfig")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static async Task<IResult> ServiceProviderConfig(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation)
    {
        var (_, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        return new ScimJson(new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"),
            ["documentationUri"] = "https://datatracker.ietf.org/doc/html/rfc7644",
            ["patch"] = new JsonObject { ["supported"] = true },
            ["bulk"] = new JsonObject { ["supported"] = false, ["maxOperations"] = 0, ["maxPayloadSize"] = 0 },
            ["filter"] = new JsonObject { ["supported"] = true, ["maxResults"] = ScimResources.MaxCount },
            ["changePassword"] = new JsonObject { ["supported"] = false },
            ["sort"] = new JsonObject { ["supported"] = true },
            ["etag"] = new JsonObject { ["supported"] = true },
            ["authenticationSchemes"] = new JsonArray(new JsonObject
            {
                ["type"] = "oauthbearertoken", ["name"] = "OAuth Bearer Token", ["primary"] = true,
                ["description"] = "The tenant's SCIM credential (a service account holding scim.provision: its long-lived SCIM token, or an access token from /oauth2/token).",
                ["specUri"] = "https://www.rfc-editor.org/rfc/rfc6750",
            }),
            ["meta"] = new JsonObject { ["resourceType"] = "ServiceProviderConfig", ["location"] = ScimHttp.Base(tenantId) + "/ServiceProviderConfig" },
        });
    }

    [WolverineGet(Base + "/ResourceTypes", OperationId = "ScimResourceTypes")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static async Task<IResult> ResourceTypes(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation)
    {
        var (_, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var types = new JsonArray(ResourceType(tenantId, "User", "/Users", ScimSchema.UserUrn, ScimSchema.EnterpriseUserUrn),
            ResourceType(tenantId, "Group", "/Groups", ScimSchema.GroupUrn, null));
        return new ScimJson(new JsonObject
        {
            ["schemas"] = new JsonArray(ScimSchema.ListResponseUrn), ["totalResults"] = 2, ["startIndex"] = 1, ["itemsPerPage"] = 2, ["Resources"] = types,
        });
    }

    [WolverineGet(Base + "/Schemas", OperationId = "ScimSchemas")]
    [Authorize(Roles = ScimHttp.Roles)]
    public static async Task<IResult> Schemas(Guid tenantId, HttpContext http, ScimStore store, CancellationToken cancellation)
    {
        var (_, refusal) = await ScimHttp.EnterAsync(http, store.Streams, tenantId, writing: false, cancellation);
        if (refusal is not null) return refusal;
        var schemas = new JsonArray(UserSchema(tenantId), GroupSchema(tenantId), EnterpriseSchema(tenantId));
        return new ScimJson(new JsonObject
        {
            ["schemas"] = new JsonArray(ScimSchema.ListResponseUrn), ["totalResults"] = 3, ["startIndex"] = 1, ["itemsPerPage"] = 3, ["Resources"] = schemas,
        });
    }

    private static JsonObject ResourceType(Guid tenantId, string name, string endpoint, string schema, string? extension)
    {
        var type = new JsonObject
        {
            ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:ResourceType"),
            ["id"] = name, ["name"] = name, ["endpoint"] = endpoint, ["schema"] = schema,
            ["meta"] = new JsonObject { ["resourceType"] = "ResourceType", ["location"] = $"{ScimHttp.Base(tenantId)}/ResourceTypes/{name}" },
        };
        if (extension is not null) type["schemaExtensions"] = new JsonArray(new JsonObject { ["schema"] = extension, ["required"] = false });
        return type;
    }

    private static JsonObject Attribute(string name, string type = "string", bool multi = false, bool required = false, bool caseExact = false,
        string mutability = "readWrite", string returned = "default", string uniqueness = "none", params JsonObject[] subs)
    {
        var attribute = new JsonObject
        {
            ["name"] = name, ["type"] = type, ["multiValued"] = multi, ["required"] = required, ["caseExact"] = caseExact,
            ["mutability"] = mutability, ["returned"] = returned, ["uniqueness"] = uniqueness,
        };
        if (subs.Length > 0) attribute["subAttributes"] = new JsonArray(subs);
        return attribute;
    }

    private static JsonObject[] ValueTypePrimary() => [Attribute("value"), Attribute("display"), Attribute("type"), Attribute("primary", "boolean")];

    private static JsonObject Schema(Guid tenantId, string id, string name, string description, params JsonObject[] attributes) => new()
    {
        ["schemas"] = new JsonArray("urn:ietf:params:scim:schemas:core:2.0:Schema"),
        ["id"] = id, ["name"] = name, ["description"] = description, ["attributes"] = new JsonArray(attributes),
        ["meta"] = new JsonObject { ["resourceType"] = "Schema", ["location"] = $"{ScimHttp.Base(tenantId)}/Schemas/{id}" },
    };

    private static JsonObject UserSchema(Guid tenantId) => Schema(tenantId, ScimSchema.UserUrn, "User", "User Account",
        Attribute("userName", required: true, uniqueness: "server"),
        Attribute("name", "complex", subs: [Attribute("formatted"), Attribute("familyName"), Attribute("givenName"), Attribute("middleName"),
            Attribute("honorificPrefix"), Attribute("honorificSuffix")]),
        Attribute("displayName"), Attribute("nickName"), Attribute("profileUrl", "reference"), Attribute("title"), Attribute("userType"),
        Attribute("preferredLanguage"), Attribute("locale"), Attribute("timezone"), Attribute("active", "boolean"),
        Attribute("password", mutability: "writeOnly", returned: "never"),
        Attribute("emails", "complex", multi: true, subs: ValueTypePrimary()),
        Attribute("phoneNumbers", "complex", multi: true, subs: ValueTypePrimary()),
        Attribute("ims", "complex", multi: true, subs: ValueTypePrimary()),
        Attribute("photos", "complex", multi: true, subs: ValueTypePrimary()),
        Attribute("addresses", "complex", multi: true, subs: [Attribute("formatted"), Attribute("streetAddress"), Attribute("locality"),
            Attribute("region"), Attribute("postalCode"), Attribute("country"), Attribute("type"), Attribute("primary", "boolean")]),
        Attribute("groups", "complex", multi: true, mutability: "readOnly", subs: [Attribute("value", mutability: "readOnly"),
            Attribute("$ref", "reference", mutability: "readOnly"), Attribute("display", mutability: "readOnly"), Attribute("type", mutability: "readOnly")]),
        Attribute("entitlements", "complex", multi: true, subs: ValueTypePrimary()),
        Attribute("roles", "complex", multi: true, subs: ValueTypePrimary()),
        Attribute("x509Certificates", "complex", multi: true, subs: ValueTypePrimary()));

    private static JsonObject GroupSchema(Guid tenantId) => Schema(tenantId, ScimSchema.GroupUrn, "Group", "Group",
        Attribute("displayName", required: true, uniqueness: "server"),
        Attribute("members", "complex", multi: true, subs: [Attribute("value", mutability: "immutable"), Attribute("$ref", "reference", mutability: "immutable"),
            Attribute("type", mutability: "immutable"), Attribute("display")]));

    private static JsonObject EnterpriseSchema(Guid tenantId) => Schema(tenantId, ScimSchema.EnterpriseUserUrn, "EnterpriseUser", "Enterprise User",
        Attribute("employeeNumber"), Attribute("costCenter"), Attribute("organization"), Attribute("division"), Attribute("department"),
        Attribute("manager", "complex", subs: [Attribute("value"), Attribute("$ref", "reference"), Attribute("displayName", mutability: "readOnly")]));
}
