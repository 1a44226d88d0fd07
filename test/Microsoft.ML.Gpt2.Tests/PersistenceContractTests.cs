using System.ComponentModel;
using System.Reflection;
using Microsoft.ML.Gpt2.Persistence;
using Microsoft.ML.Transforms;

namespace Microsoft.ML.Gpt2.Tests;

/// <summary>
/// The zips' <c>CustomMapping</c> contracts: ML.NET finds each factory by its contract name among all the types of the
/// assembly and builds it with <see cref="Activator.CreateInstance(Type)"/> when a zip loads, so each needs a public
/// parameterless constructor (the type itself may be internal, as the saved-tokenizer contracts are: FamilyZipTests loads
/// them in a fresh context). The GPT-2 contracts and their row types shipped public; they are not API for users, so they
/// stay out of IntelliSense.
/// </summary>
[TestClass]
public sealed class PersistenceContractTests
{
    private static readonly Type[] PersistenceTypes = [.. typeof(TokenIds1024).Assembly.GetTypes()
        .Where(t => t.Namespace == typeof(TokenIds1024).Namespace && !t.IsNested && !t.IsDefined(typeof(System.Runtime.CompilerServices.CompilerGeneratedAttribute)))];

    [TestMethod]
    public void EveryContractFactoryHasAPublicConstructorAndAUniqueContract()
    {
        Type[] factories = [.. PersistenceTypes.Where(t => t.IsDefined(typeof(CustomMappingFactoryAttributeAttribute)))];
        Assert.IsGreaterThanOrEqualTo(20, factories.Length, "the tokenizing, argmax and detokenizing contracts, GPT-2's and the saved tokenizer's");
        foreach (Type factory in factories)
        {
            Assert.IsFalse(factory.IsAbstract, factory.Name);
            Assert.IsNotNull(factory.GetConstructor(Type.EmptyTypes), $"{factory.Name}: ML.NET builds a factory with its public parameterless constructor when a zip loads.");
        }
        string[] contracts = [.. factories.Select(f => f.GetCustomAttribute<CustomMappingFactoryAttributeAttribute>()!.ContractName)];
        Assert.HasCount(contracts.Length, contracts.Distinct(), "ML.NET refuses an assembly with two factories of one contract");
        Assert.IsTrue(factories.Where(f => f.GetCustomAttribute<CustomMappingFactoryAttributeAttribute>()!.ContractName.StartsWith("Gpt2MLNet.SavedTokenizer.", StringComparison.Ordinal))
            .All(f => !f.IsPublic), "the saved-tokenizer contracts add no public API");
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
