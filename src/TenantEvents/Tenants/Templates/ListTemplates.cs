using Wolverine.Http;
using TenantEvents.Infrastructure;

namespace TenantEvents.Tenants.Templates;

public static class ListTemplatesEndpoint
{
    /// <summary>Any authenticated caller may read the catalogue of configuration templates.</summary>
    [WolverineGet("/api/templates", OperationId = "ListTemplates")]
    public static IResult Get(TemplateCatalog templates) => Results.Json(templates.All, Json.Options);

    [WolverineGet("/api/templates/{name}", OperationId = "GetTemplate")]
    public static IResult GetOne(string name, TemplateCatalog templates) =>
        templates.Find(name) is { } template ? Results.Json(template, Json.Options) : Problem.NotFound("template").ToResult();
}
