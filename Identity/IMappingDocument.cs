namespace Mep.Identity;

/// <summary>One document of a mapping file, as <see cref="IdentityMapper"/> runs it.</summary>
internal interface IMappingDocument
{
    /// <param name="index">The document's place in the file, for candidates and failures.</param>
    /// <param name="identities">The identity set as given (status filtering is the document's business).</param>
    Task<DocumentOutcome> MapAsync(int index, IReadOnlyList<MappingIdentity> identities, MappingContext context, CancellationToken ct);
}

/// <summary>A document's candidates in its own precedence order, or why it contributed nothing.</summary>
internal sealed record DocumentOutcome(IReadOnlyList<MappingCandidate> Candidates, MappingFailure? Failure)
{
    public static readonly DocumentOutcome Nothing = new([], null);

    public static DocumentOutcome Failed(int index, string reason) => new([], new MappingFailure(index, reason));
}
