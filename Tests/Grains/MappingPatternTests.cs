using FsCheck;
using FsCheck.Fluent;
using Mep.Identity;
using Xunit;

namespace Mep.Tests.Grains;

/// <summary>GCS's reduced regular-expression language for <c>match</c>.</summary>
public sealed class MappingPatternTests
{
    [Theory]
    [InlineData("(.*)@example\\.org", "alice@example.org", true)]
    [InlineData("(.*)@example\\.org", "alice@example.org.evil", false)] // the whole source, not a part
    [InlineData("(.*)@example\\.org", "alice@exampleXorg", false)]
    [InlineData("(.*)@example.org", "alice@exampleXorg", true)]         // an unescaped dot is any character
    [InlineData("a+b", "a+b", true)]                                     // + is an ordinary character
    [InlineData("a+b", "aab", false)]
    [InlineData("^user$", "^user$", true)]                               // so are ^ and $
    [InlineData("^user$", "user", false)]
    [InlineData("x{2}", "x{2}", true)]                                   // and { }
    [InlineData("x{2}", "xx", false)]
    [InlineData("[ab]c", "[ab]c", true)]                                 // and [ ]
    [InlineData("[ab]c", "ac", false)]
    [InlineData("colou?r", "color", true)]
    [InlineData("colou?r", "colour", true)]
    [InlineData("a|b", "b", true)]
    [InlineData("a|b", "ab", false)]
    [InlineData("x\\*y", "x*y", true)]
    [InlineData("x\\*y", "xxy", false)]
    [InlineData("(a)\\1", "aa", true)]                                   // a back-reference
    [InlineData("user", "user\n", false)]                                // a trailing newline is not the end
    public void Matches_the_whole_source_with_only_the_reduced_metacharacters(string pattern, string source, bool matches) =>
        Assert.Equal(matches, MappingPattern.Compile(pattern).Match(source) is not null);

    [Theory]
    [InlineData("*abc", "starts with '*'")]
    [InlineData("?abc", "starts with '?'")]
    [InlineData("a*?", "'*?'")]
    [InlineData("a??", "'??'")]
    [InlineData("a**", "'**'")]
    [InlineData("(*a)", "nothing to repeat")]
    [InlineData("a|*b", "nothing to repeat")]
    [InlineData("a\\d", "escapes 'd'")]
    [InlineData("a\\+", "escapes '+'")]
    [InlineData("abc\\", "lone backslash")]
    [InlineData("(a", "open")]
    [InlineData("a)", "never opened")]
    [InlineData("(a)\\2", "group 2")]
    public void Forbidden_forms_are_refused_when_the_file_loads(string pattern, string reason)
    {
        var e = Assert.Throws<MappingPatternException>(() => MappingPattern.Compile(pattern));
        Assert.Contains(reason, e.Message);
        Assert.Contains(pattern, e.Message);
    }

    [Fact]
    public void Ignore_case_affects_matching_and_groups_keep_the_source_case()
    {
        var pattern = MappingPattern.Compile("(.*)@EXAMPLE\\.org", ignoreCase: true);
        Assert.Equal(["Alice"], pattern.Match("Alice@example.ORG")!);
        Assert.Null(MappingPattern.Compile("(.*)@EXAMPLE\\.org").Match("Alice@example.org"));
    }

    [Fact]
    public void Groups_that_did_not_take_part_are_null()
    {
        var groups = MappingPattern.Compile("(a)|(b)").Match("b")!;
        Assert.Equal(2, groups.Count);
        Assert.Null(groups[0]);
        Assert.Equal("b", groups[1]);
    }

    [Fact]
    public void A_literal_pattern_has_no_metacharacters()
    {
        var pattern = MappingPattern.Compile("*a.b(c)?", literal: true);
        Assert.NotNull(pattern.Match("*a.b(c)?"));
        Assert.Null(pattern.Match("*aXb(c)?"));
        Assert.Equal(0, pattern.GroupCount);
    }

    // Patterns and sources over the characters that matter to the language, plus anything else FsCheck makes up.
    private static Arbitrary<string> Text() => ArbMap.Default.GeneratorFor<string>()
        .Where(s => s is not null)
        .Select(s => s!)
        .Or(Gen.Elements(".", "?", "*", "|", "(", ")", "\\", "a", "b", "+", "^", "$", "{", "}", "[", "]", "1", "\n")
            .ListOf().Select(parts => string.Concat(parts)))
        .ToArbitrary();

    [Fact]
    public void Any_pattern_compiles_or_is_refused_cleanly_and_matching_never_throws() =>
        Prop.ForAll(Text(), Text(), (pattern, source) =>
        {
            MappingPattern compiled;
            try
            {
                compiled = MappingPattern.Compile(pattern);
            }
            catch (MappingPatternException)
            {
                return true;
            }
            _ = compiled.Match(source);
            return true;
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void A_literal_pattern_matches_exactly_its_own_text() =>
        Prop.ForAll(Text(), Text(), (text, other) =>
        {
            var pattern = MappingPattern.Compile(text, literal: true);
            return pattern.Match(text) is not null && (other == text) == (pattern.Match(other) is not null);
        }).QuickCheckThrowOnFailure();
}
