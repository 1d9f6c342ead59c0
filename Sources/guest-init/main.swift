// guest-init: the guest's PID 1 (InitCommand in GuestInit).
import GuestInit

InitCommand.main(Array(CommandLine.arguments.dropFirst()))
