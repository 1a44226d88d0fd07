using System.ComponentModel;
using System.Reflection;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The zips' <c>CustomMapping</c> contracts: ML.NET finds each factory by its contract name and builds it, and its row
/// types, by reflection when a zip loads, so they must stay public; they are not API for users, so they stay out of
/// IntelliSense.
/// </summary>
[TestClass]
public sealed class PersistenceContractTests
{
    private static readonly Type[] PersistenceTypes = [.. typeof(TokenIds1024).Assembly.GetTypes()
        .Where(t => t.Namespace == typeof(TokenIds1024).Namespace && !t.IsNested && !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute)))];

    [TestMethod]
    public void EveryContractFactoryIsPublicWithAPublicConstructor()
    {
        Type[] factories = [.. PersistenceTypes.Where(t => t.IsDefined(typeof(CustomMappingFactoryAttributeAttribute)))];
        Assert.IsGreaterThanOrEqualTo(10, factories.Length, "the tokenizing, argmax and detokenizing contracts");
        foreach (Type factory in factories)
        {
            Assert.IsTrue(factory.IsPublic, $"{factory.Name}: ML.NET cannot build a non-public factory when a zip loads.");
            Assert.IsNotNull(factory.GetConstructor(Type.EmptyTypes), $"{factory.Name} needs a public parameterless constructor.");
        }
    }

    [TestMethod]
    public void EveryPublicPersistenceTypeIsHiddenFromIntelliSense()
    {
        Type[] exposed = [.. PersistenceTypes.Where(t => t.IsPublic)];
        Assert.IsGreaterThanOrEqualTo(20, exposed.Length);
        foreach (Type type in exposed)
            Assert.AreEqual(EditorBrowsableState.Never, type.GetCustomAttribute<EditorBrowsableAttribute>()?.State,
                $"{type.FullName} is public for ML.NET's reflection only: mark it [EditorBrowsable(EditorBrowsableState.Never)].");
    }
}
