// guest-init-agent: guest-init and guest-agent in one executable, so a guest image carries one copy of the
// Swift runtime instead of two. The name it was started by chooses: `guest-agent` (how init starts the
// agent through the image's /sbin/guest-agent link) runs the agent, any other name (/sbin/init) runs init.
// Init's code still imports no Foundation; the binary's DT_NEEDED stays glibc, libkmod and libblkid
// (make init-links checks it).
import GuestAgent
import GuestInit

let arguments = CommandLine.arguments
let name = arguments.first.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? ""
if name == "guest-agent" {
    AgentCommand.main(Array(arguments.dropFirst()))
} else {
    InitCommand.main(Array(arguments.dropFirst()))
}
