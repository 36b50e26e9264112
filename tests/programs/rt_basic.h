/* Shared by the rt_basic test program's files and its patches. */
#ifndef RT_BASIC_H
#define RT_BASIC_H
int step(void);
int step_from_other(void);
extern int g_count;
extern int last_local;
extern int last_file;
#endif
