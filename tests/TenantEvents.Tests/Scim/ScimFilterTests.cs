using System.Text.Json;
using TenantEvents.Scim;

namespace TenantEvents.Tests.Scim;

/// <summary>The filter grammar of RFC 7644 section 3.4.2.2, with the RFC's own example filters.</summary>
public class ScimFilterTests
{
    private static readonly JsonElement Barbara = JsonDocument.Parse("""
        {
          "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
          "id": "2819c223-7f76-453a-919d-413861904646",
          "externalId": "bjensen",
          "userName": "bjensen",
          "name": { "familyName": "Jensen", "givenName": "Barbara", "formatted": "Ms. Barbara J Jensen III" },
          "title": "Tour Guide",
          "userType": "Employee",
          "active": true,
          "emails": [
            { "value": "bjensen@example.com", "type": "work", "primary": true },
            { "value": "babs@jensen.org", "type": "home" }
          ],
          "ims": [ { "value": "someaimhandle", "type": "aim" } ],
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "employeeNumber": "701984", "department": "Tour Operations",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d" } },
          "meta": { "resourceType": "User", "created": "2010-01-23T04:56:22Z", "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\"" }
        }
        """).RootElement;

    private static bool Matches(string filter) => ScimFilter.Parse(filter).Matches(Barbara, ScimSchema.User);

    [Theory]
    [InlineData("userName eq \"bjensen\"", true)]
    [InlineData("userName eq \"BJENSEN\"", true)] // userName is not caseExact
    [InlineData("externalId eq \"BJENSEN\"", false)] // externalId is
    [InlineData("name.familyName co \"ense\"", true)]
    [InlineData("name.familyName co \"O'Malley\"", false)]
    [InlineData("userName sw \"J\"", false)]
    [InlineData("userName sw \"bj\"", true)]
    [InlineData("userName ew \"SEN\"", true)]
    [InlineData("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"b\"", true)]
    [InlineData("title pr", true)]
    [InlineData("nickName pr", false)]
    [InlineData("meta.lastModified gt \"2011-05-13T04:42:34Z\"", false)]
    [InlineData("meta.lastModified ge \"2011-05-13T04:42:34Z\"", true)]
    [InlineData("meta.lastModified lt \"2011-05-13T04:42:34Z\"", false)]
    [InlineData("meta.lastModified le \"2011-05-13T06:42:34+02:00\"", true)] // same instant, other offset
    [InlineData("title pr and userType eq \"Employee\"", true)]
    [InlineData("title pr or userType eq \"Intern\"", true)]
    [InlineData("schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"", true)]
    [InlineData("userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")", true)]
    [InlineData("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")", false)]
    [InlineData("userType eq \"Employee\" and (emails.type eq \"work\")", true)]
    [InlineData("userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]", true)]
    [InlineData("emails[type eq \"home\" and value co \"@example.com\"]", false)]
    [InlineData("emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]", true)]
    [InlineData("active eq true", true)]
    [InlineData("active eq false", false)]
    [InlineData("active ne false", true)]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq \"701984\"", true)]
    [InlineData("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"", true)]
    [InlineData("nickName eq null", true)]
    [InlineData("not (userName eq \"bjensen\") or title eq \"Tour Guide\"", true)] // not binds tighter than or
    [InlineData("userName eq \"x\" or userName eq \"bjensen\" and title eq \"nope\"", false)] // and binds tighter than or
    [InlineData("USERNAME EQ \"bjensen\" AND Title PR", true)] // names and operators ignore case
    public void rfc_7644_filters_match_as_specified(string filter, bool expected) => Matches(filter).ShouldBe(expected);

    [Theory]
    [InlineData("")]
    [InlineData("userName eq")]
    [InlineData("userName xx \"a\"")]
    [InlineData("(userName eq \"a\"")]
    [InlineData("userName eq \"a\" and")]
    [InlineData("emails[type eq \"work\"")]
    [InlineData("not userName eq \"a\"")]
    [InlineData("\"a\" eq userName")]
    [InlineData("userName eq 'single quotes'")]
    [InlineData("userName eq \"unterminated")]
    [InlineData("userName eq bjensen")]
    [InlineData("name.familyName[value eq \"x\"]")]
    [InlineData("userName eq \"a\" )")]
    [InlineData("active co true")]
    [InlineData("userName gt null")]
    public void malformed_filters_are_refused_with_a_reason(string filter)
    {
        var error = Should.Throw<ScimFilterException>(() => Matches(filter));
        error.Message.ShouldNotBeNullOrWhiteSpace();
    }

    [Theory]
    [InlineData("displayName co \"müller\"", true)] // non-ASCII: compared as strings, ignoring case
    [InlineData("displayName sw \"ZOË\"", true)]
    [InlineData("displayName co \"\\\"z\\\"\"", true)] // an escaped quote in the stored value
    [InlineData("displayName ew \"MÜLLER\"", true)]
    [InlineData("title eq \"tour guide\"", true)] // ASCII: compared on the stored bytes
    [InlineData("title co \"UR GU\"", true)]
    [InlineData("title ew \"guides\"", false)]
    [InlineData("externalId sw \"BJ\"", false)] // caseExact on the byte path too
    public void text_comparisons_ignore_case_for_ascii_and_unicode_alike(string filter, bool expected)
    {
        var resource = JsonDocument.Parse("""
            { "displayName": "Zoë \"Z\" Müller", "title": "Tour Guide", "externalId": "bjensen" }
            """).RootElement;
        ScimFilter.Parse(filter).Matches(resource, ScimSchema.User).ShouldBe(expected);
    }

    [Fact]
    public void deep_nesting_is_bounded()
    {
        var deep = string.Concat(Enumerable.Repeat("(", 200)) + "userName pr" + string.Concat(Enumerable.Repeat(")", 200));
        Should.Throw<ScimFilterException>(() => ScimFilter.Parse(deep));
    }
}
