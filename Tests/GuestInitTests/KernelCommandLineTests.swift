import GuestInit
import Testing

@Suite struct KernelCommandLineTests {
    @Test(arguments: [
        ("console=ttyS0 root=/dev/pmem0 ro", [KernelParameter("console", "ttyS0"), KernelParameter("root", "/dev/pmem0"),
                                              KernelParameter("ro")]),
        ("  a=1\t\tb=2 \n", [KernelParameter("a", "1"), KernelParameter("b", "2")]),
        ("guest.root=\"LABEL=my root\" x", [KernelParameter("guest.root", "LABEL=my root"), KernelParameter("x")]),
        ("\"guest.hostname=a b\" y=1", [KernelParameter("guest.hostname", "a b"), KernelParameter("y", "1")]),
        ("k=a\"b c\"d", [KernelParameter("k", "a\"b c\"d")]),
        ("k=\"\" j=", [KernelParameter("k", ""), KernelParameter("j", "")]),
        ("k==v", [KernelParameter("k", "=v")]),
        ("a=1 -- guest.root=/dev/vda", [KernelParameter("a", "1")]),
        ("\"--\" b", [KernelParameter("--"), KernelParameter("b")]),
        ("", []),
    ])
    func splitsLikeTheKernel(text: String, expected: [KernelParameter]) {
        #expect(KernelCommandLine.parameters(text) == expected)
    }
}
