package disasm

// The syntax of every opcode, as data: key → "mnemonic operand,operand".
//
// Keys: the opcode map ("" one-byte, "0f", "0f38", "0f3a") and the opcode
// byte in hex, then optionally "/N" (ModRM.reg digit of a group opcode),
// then "r" or "m" (register or memory ModRM form) or ".XX" (the whole
// ModRM byte, for register forms like 0F 01 C1); a mandatory prefix
// ("66 ", "f2 ", "f3 ") in front when it selects the instruction. The
// most specific key wins (lookup in format.go).
//
// Mnemonics: "a|b|c" picks by operand size 16|32|64 (cbw|cwde|cdqe);
// "a|b|c@a" picks by address size instead (jcxz|jecxz|jrcxz).
//
// Operands (SDM Vol. 2D A.2 notation): E r/m, G ModRM.reg, M memory only,
// R ModRM.rm register, I immediate, J relative target, O moffs, A far
// pointer, S segment register, C/D control/debug register, X/Y the string
// operands at DS:rSI and ES:rDI, Z the register in the opcode's low bits;
// sizes b w d q v (operand size) z (16/32) y (32/64) p (far pointer) x
// (xmmword); "Mn" is memory without a size keyword; "Is" an imm8
// sign-extended to the operand size. Literal registers (al, cl, dx, rAX,
// eAX: eAX is ax/eax by operand size, rAX also rax) and "1" as written.
var forms = map[string]string{
	// One-byte map (SDM Vol. 2D Table A-2).
	"00": "add Eb,Gb", "01": "add Ev,Gv", "02": "add Gb,Eb", "03": "add Gv,Ev", "04": "add al,Ib", "05": "add rAX,Iz",
	"08": "or Eb,Gb", "09": "or Ev,Gv", "0a": "or Gb,Eb", "0b": "or Gv,Ev", "0c": "or al,Ib", "0d": "or rAX,Iu",
	"10": "adc Eb,Gb", "11": "adc Ev,Gv", "12": "adc Gb,Eb", "13": "adc Gv,Ev", "14": "adc al,Ib", "15": "adc rAX,Iz",
	"18": "sbb Eb,Gb", "19": "sbb Ev,Gv", "1a": "sbb Gb,Eb", "1b": "sbb Gv,Ev", "1c": "sbb al,Ib", "1d": "sbb rAX,Iz",
	"20": "and Eb,Gb", "21": "and Ev,Gv", "22": "and Gb,Eb", "23": "and Gv,Ev", "24": "and al,Ib", "25": "and rAX,Iu",
	"28": "sub Eb,Gb", "29": "sub Ev,Gv", "2a": "sub Gb,Eb", "2b": "sub Gv,Ev", "2c": "sub al,Ib", "2d": "sub rAX,Iz",
	"30": "xor Eb,Gb", "31": "xor Ev,Gv", "32": "xor Gb,Eb", "33": "xor Gv,Ev", "34": "xor al,Ib", "35": "xor rAX,Iu",
	"38": "cmp Eb,Gb", "39": "cmp Ev,Gv", "3a": "cmp Gb,Eb", "3b": "cmp Gv,Ev", "3c": "cmp al,Ib", "3d": "cmp rAX,Iz",
	"06": "push es", "07": "pop es", "0e": "push cs", "16": "push ss", "17": "pop ss", "1e": "push ds", "1f": "pop ds",
	"27": "daa", "2f": "das", "37": "aaa", "3f": "aas", "d6": "salc",
	"40": "inc Zv", "41": "inc Zv", "42": "inc Zv", "43": "inc Zv", "44": "inc Zv", "45": "inc Zv", "46": "inc Zv", "47": "inc Zv",
	"48": "dec Zv", "49": "dec Zv", "4a": "dec Zv", "4b": "dec Zv", "4c": "dec Zv", "4d": "dec Zv", "4e": "dec Zv", "4f": "dec Zv",
	"50": "push Zv", "51": "push Zv", "52": "push Zv", "53": "push Zv", "54": "push Zv", "55": "push Zv", "56": "push Zv", "57": "push Zv",
	"58": "pop Zv", "59": "pop Zv", "5a": "pop Zv", "5b": "pop Zv", "5c": "pop Zv", "5d": "pop Zv", "5e": "pop Zv", "5f": "pop Zv",
	"60": "pushaw|pushal|", "61": "popaw|popal|", "62": "bound Gv,Ma", "63": "arpl Ew,Gw", "o64 63": "movsxd Gv,Ed",
	"68": "push Iz", "69": "imul Gv,Ev,Iz", "6a": "push Is", "6b": "imul Gv,Ev,Is",
	"6c": "insb Yb,dx", "6d": "insw|insd|insd Yz,dx", "6e": "outsb dx,Xb", "6f": "outsw|outsd|outsd dx,Xz",
	"70": "jo Jb", "71": "jno Jb", "72": "jb Jb", "73": "jae Jb", "74": "je Jb", "75": "jne Jb", "76": "jbe Jb", "77": "ja Jb",
	"78": "js Jb", "79": "jns Jb", "7a": "jp Jb", "7b": "jnp Jb", "7c": "jl Jb", "7d": "jge Jb", "7e": "jle Jb", "7f": "jg Jb",
	"80/0": "add Eb,Ib", "80/1": "or Eb,Ib", "80/2": "adc Eb,Ib", "80/3": "sbb Eb,Ib", "80/4": "and Eb,Ib", "80/5": "sub Eb,Ib", "80/6": "xor Eb,Ib", "80/7": "cmp Eb,Ib",
	"81/0": "add Ev,Iz", "81/1": "or Ev,Iu", "81/2": "adc Ev,Iz", "81/3": "sbb Ev,Iz", "81/4": "and Ev,Iu", "81/5": "sub Ev,Iz", "81/6": "xor Ev,Iu", "81/7": "cmp Ev,Iz",
	"82/0": "add Eb,Ib", "82/1": "or Eb,Ib", "82/2": "adc Eb,Ib", "82/3": "sbb Eb,Ib", "82/4": "and Eb,Ib", "82/5": "sub Eb,Ib", "82/6": "xor Eb,Ib", "82/7": "cmp Eb,Ib",
	"83/0": "add Ev,Is", "83/1": "or Ev,Iu", "83/2": "adc Ev,Is", "83/3": "sbb Ev,Is", "83/4": "and Ev,Iu", "83/5": "sub Ev,Is", "83/6": "xor Ev,Iu", "83/7": "cmp Ev,Is",
	"84": "test Eb,Gb", "85": "test Ev,Gv", "86": "xchg Eb,Gb", "87": "xchg Ev,Gv",
	"88": "mov Eb,Gb", "89": "mov Ev,Gv", "8a": "mov Gb,Eb", "8b": "mov Gv,Ev", "8cr": "mov Rv,Sw", "8cm": "mov Mw,Sw", "8d": "lea Gv,Mn", "8er": "mov Sw,Rv", "8em": "mov Sw,Mw", "8f/0": "pop Ev",
	"90": "nop", "f3 90": "pause", "91": "xchg rAX,Zv", "92": "xchg rAX,Zv", "93": "xchg rAX,Zv", "94": "xchg rAX,Zv", "95": "xchg rAX,Zv", "96": "xchg rAX,Zv", "97": "xchg rAX,Zv",
	"98": "cbw|cwde|cdqe", "99": "cwd|cdq|cqo", "9a": "lcall Ap", "9b": "wait", "9c": "pushf|pushfd|pushfq", "9d": "popf|popfd|popfq", "9e": "sahf", "9f": "lahf",
	"a0": "mov al,Ob", "a1": "mov rAX,Ov", "a2": "mov Ob,al", "a3": "mov Ov,rAX",
	"a4": "movsb Yb,Xb", "a5": "movsw|movsd|movsq Yv,Xv", "a6": "cmpsb Xb,Yb", "a7": "cmpsw|cmpsd|cmpsq Xv,Yv",
	"a8": "test al,Ib", "a9": "test rAX,Iz", "aa": "stosb Yb,al", "ab": "stosw|stosd|stosq Yv,rAX",
	"ac": "lodsb al,Xb", "ad": "lodsw|lodsd|lodsq rAX,Xv", "ae": "scasb al,Yb", "af": "scasw|scasd|scasq rAX,Yv",
	"b0": "mov Zb,Ib", "b1": "mov Zb,Ib", "b2": "mov Zb,Ib", "b3": "mov Zb,Ib", "b4": "mov Zb,Ib", "b5": "mov Zb,Ib", "b6": "mov Zb,Ib", "b7": "mov Zb,Ib",
	"b8": "mov Zv,Iv", "b9": "mov Zv,Iv", "ba": "mov Zv,Iv", "bb": "mov Zv,Iv", "bc": "mov Zv,Iv", "bd": "mov Zv,Iv", "be": "mov Zv,Iv", "bf": "mov Zv,Iv",
	"c0/0": "rol Eb,Ib", "c0/1": "ror Eb,Ib", "c0/2": "rcl Eb,Ib", "c0/3": "rcr Eb,Ib", "c0/4": "shl Eb,Ib", "c0/5": "shr Eb,Ib", "c0/6": "sal Eb,Ib", "c0/7": "sar Eb,Ib",
	"c1/0": "rol Ev,Ib", "c1/1": "ror Ev,Ib", "c1/2": "rcl Ev,Ib", "c1/3": "rcr Ev,Ib", "c1/4": "shl Ev,Ib", "c1/5": "shr Ev,Ib", "c1/6": "sal Ev,Ib", "c1/7": "sar Ev,Ib",
	"d0/0": "rol Eb,1", "d0/1": "ror Eb,1", "d0/2": "rcl Eb,1", "d0/3": "rcr Eb,1", "d0/4": "shl Eb,1", "d0/5": "shr Eb,1", "d0/6": "sal Eb,1", "d0/7": "sar Eb,1",
	"d1/0": "rol Ev,1", "d1/1": "ror Ev,1", "d1/2": "rcl Ev,1", "d1/3": "rcr Ev,1", "d1/4": "shl Ev,1", "d1/5": "shr Ev,1", "d1/6": "sal Ev,1", "d1/7": "sar Ev,1",
	"d2/0": "rol Eb,cl", "d2/1": "ror Eb,cl", "d2/2": "rcl Eb,cl", "d2/3": "rcr Eb,cl", "d2/4": "shl Eb,cl", "d2/5": "shr Eb,cl", "d2/6": "sal Eb,cl", "d2/7": "sar Eb,cl",
	"d3/0": "rol Ev,cl", "d3/1": "ror Ev,cl", "d3/2": "rcl Ev,cl", "d3/3": "rcr Ev,cl", "d3/4": "shl Ev,cl", "d3/5": "shr Ev,cl", "d3/6": "sal Ev,cl", "d3/7": "sar Ev,cl",
	"c2": "ret Iw", "c3": "ret", "c4": "les Gv,Mp", "c5": "lds Gv,Mp", "c6/0": "mov Eb,Ib", "c7/0": "mov Ev,Iz",
	"c8": "enter Iw,Ib2", "c9": "leave", "ca": "retf|retf|retfq Iw", "cb": "retf|retf|retfq", "cc": "int3", "cd": "int Ib", "ce": "into", "cf": "iret|iretd|iretq",
	"d4": "aam Ia", "d5": "aad Ia", "d7": "xlatb",
	"e0": "loopne Jb", "e1": "loope Jb", "e2": "loop Jb", "e3": "jcxz|jecxz|jrcxz@a Jb",
	"e4": "in al,Ib", "e5": "in eAX,Ib", "e6": "out Ib,al", "e7": "out Ib,eAX",
	"e8": "call Jz", "e9": "jmp Jz", "ea": "ljmp Ap", "eb": "jmp Jb",
	"ec": "in al,dx", "ed": "in eAX,dx", "ee": "out dx,al", "ef": "out dx,eAX",
	"f1": "int1", "f4": "hlt", "f5": "cmc",
	"f6/0": "test Eb,Ib", "f6/1": "test Eb,Ib", "f6/2": "not Eb", "f6/3": "neg Eb", "f6/4": "mul Eb", "f6/5": "imul Eb", "f6/6": "div Eb", "f6/7": "idiv Eb",
	"f7/0": "test Ev,Iz", "f7/1": "test Ev,Iz", "f7/2": "not Ev", "f7/3": "neg Ev", "f7/4": "mul Ev", "f7/5": "imul Ev", "f7/6": "div Ev", "f7/7": "idiv Ev",
	"f8": "clc", "f9": "stc", "fa": "cli", "fb": "sti", "fc": "cld", "fd": "std",
	"fe/0": "inc Eb", "fe/1": "dec Eb",
	"ff/0": "inc Ev", "ff/1": "dec Ev", "ff/2": "call Ev", "ff/3": "lcall Mn", "ff/4": "jmp Ev", "ff/5": "ljmp Mn", "ff/6": "push Ev",

	// Two-byte map (SDM Vol. 2D Table A-3, groups Table A-6).
	"0f00/0r": "sldt Rv", "0f00/0m": "sldt Mw", "0f00/1r": "str Rv", "0f00/1m": "str Mw", "0f00/2": "lldt Ew", "0f00/3": "ltr Ew",
	"0f01/0m": "sgdt Mn", "0f01/1m": "sidt Mn", "0f01/2m": "lgdt Mn", "0f01/3m": "lidt Mn", "0f01/4m": "smsw Mw", "0f01/6m": "lmsw Mw", "0f01/7m": "invlpg Mb",
	"0f01/4r": "smsw Rv", "0f01/6r": "lmsw Rw",
	"0f01.c1": "vmcall", "0f01.c2": "vmlaunch", "0f01.c3": "vmresume", "0f01.c4": "vmxoff", "0f01.d4": "vmfunc",
	"0f01.c8": "monitor", "0f01.c9": "mwait",
	"0f01.d0": "xgetbv", "0f01.d1": "xsetbv", "0f01.ca": "clac", "0f01.cb": "stac", "0f01.f8": "swapgs", "0f01.f9": "rdtscp",
	"0f01.ee": "rdpkru", "0f01.ef": "wrpkru",
	"0f05": "syscall", "0f06": "clts", "0f07": "sysret", "0f08": "invd", "0f09": "wbinvd", "0f0b": "ud2",
	"0f0d/0m": "prefetch Mb", "0f0d/1m": "prefetchw Mb", "0f0d/2m": "prefetchwt1 Mb", "0f0dm": "prefetch Mb",
	"0f18/0m": "prefetchnta Mb", "0f18/1m": "prefetcht0 Mb", "0f18/2m": "prefetcht1 Mb", "0f18/3m": "prefetcht2 Mb",
	"0f1f/0": "nop Ev", "f3 0f1e.fa": "endbr64", "f3 0f1e.fb": "endbr32",
	"0f20": "mov Ry,Cd", "0f21": "mov Ry,Dd", "0f22": "mov Cd,Ry", "0f23": "mov Dd,Ry",
	"0f30": "wrmsr", "0f31": "rdtsc", "0f32": "rdmsr", "0f33": "rdpmc", "0f34": "sysenter", "0f35": "sysexit",
	"0f40": "cmovo Gv,Ev", "0f41": "cmovno Gv,Ev", "0f42": "cmovb Gv,Ev", "0f43": "cmovae Gv,Ev", "0f44": "cmove Gv,Ev", "0f45": "cmovne Gv,Ev", "0f46": "cmovbe Gv,Ev", "0f47": "cmova Gv,Ev",
	"0f48": "cmovs Gv,Ev", "0f49": "cmovns Gv,Ev", "0f4a": "cmovp Gv,Ev", "0f4b": "cmovnp Gv,Ev", "0f4c": "cmovl Gv,Ev", "0f4d": "cmovge Gv,Ev", "0f4e": "cmovle Gv,Ev", "0f4f": "cmovg Gv,Ev",
	// VMREAD/VMWRITE (SDM Vol. 3C 31.3): 64-bit operands in 64-bit mode, 32-bit otherwise.
	"0f78": "vmread Ey,Gy", "0f79": "vmwrite Gy,Ey",
	"0f80": "jo Jz", "0f81": "jno Jz", "0f82": "jb Jz", "0f83": "jae Jz", "0f84": "je Jz", "0f85": "jne Jz", "0f86": "jbe Jz", "0f87": "ja Jz",
	"0f88": "js Jz", "0f89": "jns Jz", "0f8a": "jp Jz", "0f8b": "jnp Jz", "0f8c": "jl Jz", "0f8d": "jge Jz", "0f8e": "jle Jz", "0f8f": "jg Jz",
	"0f90": "seto Eb", "0f91": "setno Eb", "0f92": "setb Eb", "0f93": "setae Eb", "0f94": "sete Eb", "0f95": "setne Eb", "0f96": "setbe Eb", "0f97": "seta Eb",
	"0f98": "sets Eb", "0f99": "setns Eb", "0f9a": "setp Eb", "0f9b": "setnp Eb", "0f9c": "setl Eb", "0f9d": "setge Eb", "0f9e": "setle Eb", "0f9f": "setg Eb",
	"0fa0": "push fs", "0fa1": "pop fs", "0fa2": "cpuid", "0fa3": "bt Ev,Gv", "0fa4": "shld Ev,Gv,Ib2", "0fa5": "shld Ev,Gv,cl",
	"0fa8": "push gs", "0fa9": "pop gs", "0fab": "bts Ev,Gv", "0fac": "shrd Ev,Gv,Ib2", "0fad": "shrd Ev,Gv,cl",
	"0fae/0m": "fxsave|fxsave|fxsave64 Mn", "0fae/1m": "fxrstor|fxrstor|fxrstor64 Mn", "0fae/2m": "ldmxcsr Md", "0fae/3m": "stmxcsr Md", "0fae/4m": "xsave|xsave|xsave64 MP", "0fae/5m": "xrstor|xrstor|xrstor64 MP", "0fae/7m": "clflush Mb",
	"66 0fae/6m": "clwb Mb", "66 0fae/7m": "clflushopt Mb", "0fae/5r": "lfence", "0fae/6r": "mfence", "0fae/7r": "sfence",
	"0faf": "imul Gv,Ev",
	"0fb0": "cmpxchg Eb,Gb", "0fb1": "cmpxchg Ev,Gv", "0fb2": "lss Gv,Mp", "0fb3": "btr Ev,Gv", "0fb4": "lfs Gv,Mp", "0fb5": "lgs Gv,Mp",
	"0fb6": "movzx Gv,Eb", "0fb7": "movzx Gv,Ew", "f3 0fb8": "popcnt Gv,Ev", "0fb9": "ud1 Gv,Ev",
	"0fba/4": "bt Ev,Ib", "0fba/5": "bts Ev,Ib", "0fba/6": "btr Ev,Ib", "0fba/7": "btc Ev,Ib",
	"0fbb": "btc Ev,Gv", "0fbc": "bsf Gv,Ev", "0fbd": "bsr Gv,Ev", "f3 0fbc": "tzcnt Gv,Ev", "f3 0fbd": "lzcnt Gv,Ev",
	"0fbe": "movsx Gv,Eb", "0fbf": "movsx Gv,Ew", "0fc0": "xadd Eb,Gb", "0fc1": "xadd Ev,Gv",
	// Group 9 (Table A-6): CMPXCHG8B/16B, the VMX pointer instructions
	// told apart by the mandatory prefix (SDM Vol. 3C 31.3), RDRAND/RDSEED.
	"0fc7/1m": "cmpxchg8b|cmpxchg8b|cmpxchg16b Mq8", "0fc7/3m": "xrstors|xrstors|xrstors64 MP", "0fc7/4m": "xsavec|xsavec|xsavec64 MP", "0fc7/5m": "xsaves|xsaves|xsaves64 MP", "0fc7/6m": "vmptrld Mq", "66 0fc7/6m": "vmclear Mq", "f3 0fc7/6m": "vmxon Mq", "0fc7/7m": "vmptrst Mq",
	"0fc7/6r": "rdrand Rv", "0fc7/7r": "rdseed Rv", "f3 0fc7/7r": "rdpid Ry",
	"f3 0fae/0r": "rdfsbase Rv", "f3 0fae/1r": "rdgsbase Rv", "f3 0fae/2r": "wrfsbase Rv", "f3 0fae/3r": "wrgsbase Rv",
	"0fc8": "bswap Zv", "0fc9": "bswap Zv", "0fca": "bswap Zv", "0fcb": "bswap Zv", "0fcc": "bswap Zv", "0fcd": "bswap Zv", "0fce": "bswap Zv", "0fcf": "bswap Zv",
	"0fff": "ud0 Gv,Ev",

	// Three-byte map 0F 38 (SDM Vol. 2D Table A-4).
	"0f38f0": "movbe Gv,Mv", "0f38f1": "movbe Mv,Gv",
	// INVEPT, INVVPID (SDM Vol. 3C 31.3), INVPCID: register r32/r64, m128.
	"66 0f3880": "invept Gy,Mx", "66 0f3881": "invvpid Gy,Mx", "66 0f3882": "invpcid Gy,Mx",
}
