/* QEMU fw_cfg reader over the legacy I/O ports. */
#include "kernel.h"

void fwcfg_read(uint16_t key, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;

	outw(FW_CFG_PORT_SEL, key);
	for (i = 0; i < len; i++)
		p[i] = inb(FW_CFG_PORT_DATA);
}

int fwcfg_present(void)
{
	char sig[4];

	fwcfg_read(FW_CFG_SIGNATURE, sig, sizeof sig);
	return sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U';
}

uint16_t fwcfg_cpus(void)
{
	uint8_t b[2];

	fwcfg_read(FW_CFG_NB_CPUS, b, sizeof b);
	return (uint16_t)(b[0] | (b[1] << 8)); /* fw_cfg integers are little-endian */
}
