// The machine's own floor for paced loopback latency (docs/performance.md): a server thread
// answers 56 bytes to every 1140-byte request; the client sends one request per millisecond
// (absolute deadlines) and prints percentiles of due-to-answer latency.
//   gcc -O2 -o /tmp/loopback-floor scripts/loopback-floor.c -lpthread && /tmp/loopback-floor 5000
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
static int port;
static long long now_ns(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1000000000LL+t.tv_nsec;}
static int readn(int fd,char*b,int n){int g=0;while(g<n){int r=read(fd,b+g,n-g);if(r<=0)return -1;g+=r;}return 0;}
static void* srv(void*a){int ls=*(int*)a;int c=accept(ls,0,0);int one=1;setsockopt(c,IPPROTO_TCP,TCP_NODELAY,&one,4);char b[2048];while(readn(c,b,1140)==0){write(c,b,56);}return 0;}
static int cmp(const void*a,const void*b){long long x=*(long long*)a,y=*(long long*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){int n=argc>1?atoi(argv[1]):10000;int ls=socket(AF_INET,SOCK_STREAM,0);struct sockaddr_in sa={0};sa.sin_family=AF_INET;sa.sin_addr.s_addr=htonl(0x7f000001);bind(ls,(void*)&sa,sizeof sa);listen(ls,1);socklen_t l=sizeof sa;getsockname(ls,(void*)&sa,&l);
pthread_t t;pthread_create(&t,0,srv,&ls);int c=socket(AF_INET,SOCK_STREAM,0);connect(c,(void*)&sa,sizeof sa);int one=1;setsockopt(c,IPPROTO_TCP,TCP_NODELAY,&one,4);
char b[2048];memset(b,1,sizeof b);long long*lat=malloc(n*8);long long start=now_ns();
for(int i=0;i<n;i++){long long due=start+i*1000000LL;struct timespec ts={due/1000000000LL,due%1000000000LL};clock_nanosleep(CLOCK_MONOTONIC,TIMER_ABSTIME,&ts,0);write(c,b,1140);readn(c,b,56);lat[i]=now_ns()-due;}
qsort(lat,n,8,cmp);printf("floor: p50 %.3f p99 %.3f p99.9 %.3f max %.3f ms\n",lat[n/2]/1e6,lat[n*99/100]/1e6,lat[n*999/1000]/1e6,lat[n-1]/1e6);return 0;}
